/**
 * The fetch path's sink: the response body's underlying source, for runtimes that read the body
 * themselves (Deno, Bun, Workers, `@hono/node-server`, anything that reads `response.body`).
 *
 * High-water mark 0: the runtime's read is the only thing that pulls, so a pull means "the
 * runtime took everything so far", and every event queued since the last read leaves as one
 * chunk. A class, not a handful of closures: it is made for every stream.
 *
 * A body still unread at the stream's first keep-alive tick is held weakly from then on and
 * watched by {@linkcode UNSENT}, so that the stream (which holds this source) does not keep an
 * unsent body alive. A body read sooner, as a sent one is, never pays for the watch.
 *
 * @module
 */

import type { EventStream } from "./event-stream.ts";
import type { StreamSink } from "./sink.ts";

/** The body's queuing strategy: see the module's comment. */
const BODY_STRATEGY = { highWaterMark: 0 };

/**
 * Ends the streams of response bodies that were garbage-collected before anyone read them: a
 * handler that called `sendEvents()` and then answered with another response, or threw. Nothing
 * can ever read such a body, and without this its stream would stay open (keep-alives queued for
 * nobody, `close()` never resolving). Where the adapter knows which response was sent (the Node
 * adapter, `sendevents/hono`), it ends them at once instead.
 */
const UNSENT =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<EventStream>((stream) => {
        stream.fail("error", new Error("Event stream closed: its response was never sent"));
      })
    : undefined;

class BodySource implements StreamSink, UnderlyingDefaultSource<Uint8Array> {
  readonly #stream: EventStream;
  /** Held while the body may still be sent, and from its first read on. */
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Held weakly once the body was found unread. */
  #unread: WeakRef<ReadableStreamDefaultController<Uint8Array>> | undefined;
  #read = false;
  #pullPending = false;
  #scheduled = false;
  #task: (() => void) | undefined;

  constructor(stream: EventStream) {
    this.#stream = stream;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  pull(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.#read) {
      this.#read = true;
      if (this.#unread !== undefined) {
        // Read at last: the response is being sent after all.
        this.#controller = controller;
        this.#unread = undefined;
        UNSENT!.unregister(this);
      }
    }
    this.#pullPending = true;
    this.#stream.pull();
  }

  unread(): void {
    const controller = this.#controller;
    if (this.#read || controller === undefined || UNSENT === undefined) return;
    // The controller and its stream are only reachable from each other (and from whoever holds
    // the response): watch the controller, and hold it weakly.
    UNSENT.register(controller, this.#stream, this);
    this.#unread = new WeakRef(controller);
    this.#controller = undefined;
  }

  cancel(): void {
    // The runtime cancelled the body: nothing is left to close (closing it would throw, and an
    // error's stack trace cost more than the rest of a short stream's end).
    this.#controller = undefined;
    this.#unread = undefined;
    this.#stream.leave();
  }

  wake(): void {
    // Coalesce everything dispatched in this turn into one chunk.
    if (this.#pullPending && !this.#scheduled) {
      this.#scheduled = true;
      this.#task ??= () => {
        this.#scheduled = false;
        if (this.#pullPending) this.#stream.pull();
      };
      queueMicrotask(this.#task);
    }
  }

  write(chunk: Uint8Array): void {
    this.#pullPending = false;
    this.#controller!.enqueue(chunk);
  }

  end(): void {
    this.#live()?.close();
  }

  abort(error: unknown): void {
    try {
      this.#live()?.error(error);
    } catch {
      // Already closed or cancelled by the runtime: nothing left to end.
    }
  }

  leave(): void {
    try {
      this.#live()?.close();
    } catch {
      // The runtime cancelled the body already.
    }
  }

  /** The controller, unless the body was collected unread. */
  #live(): ReadableStreamDefaultController<Uint8Array> | undefined {
    return this.#controller ?? this.#unread?.deref();
  }
}

/** A `ReadableStream` body fed by `stream`. */
export function readableFor(stream: EventStream): ReadableStream<Uint8Array> {
  const source = new BodySource(stream);
  const readable = new ReadableStream<Uint8Array>(source, BODY_STRATEGY);
  stream.attach(source);
  return readable;
}
