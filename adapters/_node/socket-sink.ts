/**
 * The Node adapter's direct path: an event stream's queue written straight to the response, with
 * no web stream between them (`SocketSink`), and the sink of a `HEAD`'s stream, which sends
 * nothing (`DiscardSink`). See `docs/ARCHITECTURE.md` for the whole path.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type * as http from "node:http";
import * as http2 from "node:http2";
import type { EventStream } from "../../src/_internal/event-stream.ts";
import type { StreamSink } from "../../src/_internal/sink.ts";
import type { NodeResponse } from "../node.ts";
import { SendWatch } from "./watch-event-stream.ts";

const EMPTY = new Uint8Array(0);
/** The sink drains its stream. */
const ATTACHED = 1;
/** The sink is in this turn's batch of woken sinks. */
const SCHEDULED = 2;
/** The socket's buffer is full: waiting for `drain`. */
const BLOCKED = 4;
/** Something has been written (the head is out). */
const WROTE = 8;

/**
 * Writes an event stream's target straight to the response: no web stream between them. Events
 * dispatched in one turn of the event loop leave in one write; when the socket's buffer is full,
 * the target keeps them (so `ready` and `maxBufferedAmount` see them) until `drain`. It is the
 * connection's `SendWatch` too, once `watchEventStream` adds it to a clock.
 */
export class SocketSink extends SendWatch implements StreamSink {
  /**
   * The sinks woken in this turn of the event loop, pulled together by one `setImmediate`: a
   * broadcast to 5,000 streams schedules one callback, not 5,000.
   */
  static #woken: SocketSink[] = [];

  readonly #stream: EventStream;
  /** `ATTACHED`, `SCHEDULED`, `BLOCKED` and `WROTE`, in one field: every idle stream has a sink. */
  #flags = 0;

  constructor(res: NodeResponse, stream: EventStream) {
    super(res);
    this.#stream = stream;
  }

  /** Starts draining: the head and everything dispatched so far leave together, in one write. */
  start(): void {
    this.#stream.attach(this);
    this.#flags |= ATTACHED;
    this.#stream.pull();
  }

  wake(): void {
    if ((this.#flags & (ATTACHED | SCHEDULED | BLOCKED)) === ATTACHED) {
      this.#flags |= SCHEDULED;
      if (SocketSink.#woken.push(this) === 1) setImmediate(SocketSink.#pullWoken);
    }
  }

  write(chunk: Uint8Array): void {
    this.#flags |= WROTE;
    if (!writeWatched(this.res, chunk, this)) this.#block();
  }

  /**
   * Text goes to Node as a string: it encodes it as it writes (on HTTP/1.1 the head and the chunk
   * size join it in one string), with no `Uint8Array` of ours to make and wrap in a `Buffer`.
   */
  writeText(text: string, ascii: boolean): void {
    this.#flags |= WROTE;
    // Latin-1 for ASCII: the same bytes, and Node holds a copy of one byte a unit while the client
    // has not taken them (three as UTF-8 through a chunked response's `writev`).
    if (!writeWatched(this.res, text, this, ascii ? "latin1" : "utf8")) this.#block();
  }

  /** Node's own count, which is `TextEncoder`'s (lone surrogates as U+FFFD's three bytes). */
  countText(text: string): number {
    return Buffer.byteLength(text);
  }

  flush(): void {
    if ((this.#flags & (ATTACHED | BLOCKED)) === ATTACHED) this.#stream.pull();
  }

  /** The socket's buffer is full: the stream keeps what comes next until `drain`. */
  #block(): void {
    this.#flags |= BLOCKED;
    this.res.once("drain", () => {
      this.#flags &= ~BLOCKED;
      this.#stream.pull();
    });
  }

  end(): void {
    this.res.end();
  }

  abort(): void {
    const res = this.res;
    // The stream failed before its first write (an overflow while the handler ran): send the head
    // first, so the client sees a stream that broke, as after any later overflow, not silence.
    if ((this.#flags & WROTE) === 0) {
      const h2 = res as http2.Http2ServerResponse;
      if (h2.stream !== undefined) {
        // Node 22 (22.23) drops the HEADERS frame of a stream reset in the same turn: reset it
        // once an empty write after the head has been handed over.
        h2.write(EMPTY, () => abortResponse(res));
        return;
      }
      (res as http.ServerResponse).flushHeaders();
    }
    // Ending normally would tell the client all is well: abort the connection instead.
    abortResponse(res);
  }

  leave(): void {}

  static #pullWoken(): void {
    const sinks = SocketSink.#woken;
    SocketSink.#woken = [];
    let i = 0;
    try {
      for (; i < sinks.length; i++) {
        const sink = sinks[i]!;
        sink.#flags &= ~SCHEDULED;
        if ((sink.#flags & BLOCKED) === 0) sink.#stream.pull();
      }
    } finally {
      // A write that threw must not strand the streams after it: they go in the next batch.
      if (i < sinks.length - 1) {
        const rest = sinks.slice(i + 1);
        if (SocketSink.#woken.length === 0) setImmediate(SocketSink.#pullWoken);
        SocketSink.#woken.push(...rest);
      }
    }
  }
}

/**
 * A HEAD request's event stream: it has sent its headers and will send nothing else. Takes what
 * the target queued and drops it, so that `close()` completes at once with reason `"server"`.
 */
export class DiscardSink implements StreamSink {
  readonly #stream: EventStream;

  constructor(stream: EventStream) {
    this.#stream = stream;
  }

  wake(): void {
    this.#stream.pull();
  }

  write(): void {}
  end(): void {}
  abort(): void {}
  leave(): void {}
}

/**
 * Writes `chunk` to `res`. With a send watch that a clock watches, adds what the write added to
 * Node's unsent bytes (the head and chunk framing included), so that the watch compares like
 * with like.
 */
export function writeWatched(
  res: NodeResponse,
  chunk: Uint8Array | string,
  watch: SendWatch | undefined,
  encoding: BufferEncoding = "utf8",
): boolean {
  const out = res as http.ServerResponse;
  if (watch?.watched !== true) return out.write(chunk, encoding);
  const before = out.writableLength;
  const more = out.write(chunk, encoding);
  watch.written += out.writableLength - before;
  return more;
}

/**
 * Ends `res` abruptly, so that the client sees a failed response, not a complete one: over HTTP/1
 * the connection is destroyed (no last chunk); over HTTP/2 the stream is reset with
 * `INTERNAL_ERROR`. (`destroy()` resets an HTTP/2 stream with `NO_ERROR`, which a client may take
 * for a normal end.)
 */
export function abortResponse(res: NodeResponse): void {
  const stream = (res as http2.Http2ServerResponse).stream as http2.ServerHttp2Stream | undefined;
  if (stream !== undefined) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}
