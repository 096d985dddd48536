/**
 * `target.pipeFrom(source)`: an async iterable or a `ReadableStream` sent item by item, at the
 * pace the client reads, then the stream closed.
 *
 * @module
 */

import type { PipeFromOptions } from "../pipe-from.ts";
import { ServerSentEvent } from "../server-sent-event.ts";
import type { ServerSentEventTarget } from "../server-sent-event-target.ts";
import { events, streamOf } from "./access.ts";
import { describe } from "./describe.ts";

/** Items a pipe may take from a ready source before it lets the event loop run. */
const YIELD_EVERY = 1024;

/** Resolves on a later turn of the event loop, after timers and I/O due now. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface Source<Item> {
  next(): Promise<IteratorResult<Item>>;
  cancel(reason: unknown): Promise<unknown>;
  release(): void;
}

function open<Item>(source: AsyncIterable<Item> | ReadableStream<Item>): Source<Item> {
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    const reader = (source as ReadableStream<Item>).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<Item>>,
      cancel: (reason) => reader.cancel(reason),
      release: () => reader.releaseLock(),
    };
  }
  const iterator = (source as AsyncIterable<Item>)[Symbol.asyncIterator]();
  return {
    next: () => iterator.next(),
    cancel: async (reason) => await iterator.return?.(reason),
    release: () => {},
  };
}

/**
 * Sends every item of `source` on `target`, at the pace the client reads, and ends the stream
 * when the source ends. The logic behind `ServerSentEventTarget.pipeFrom`.
 */
export function pipeFrom<Item>(
  target: ServerSentEventTarget,
  source: AsyncIterable<Item> | ReadableStream<Item>,
  options: PipeFromOptions<Item> = {},
): Promise<void> {
  const action = "Cannot pipe into event stream";
  const isStream = typeof ReadableStream !== "undefined" && source instanceof ReadableStream;
  if (
    !isStream &&
    (source === null ||
      (typeof source !== "object" && typeof source !== "function") ||
      typeof (source as Partial<AsyncIterable<Item>>)[Symbol.asyncIterator] !== "function")
  ) {
    throw new TypeError(
      `${action}: the source must be an AsyncIterable or a ReadableStream, received ${describe(source)}`,
    );
  }
  if (isStream && (source as ReadableStream<Item>).locked) {
    throw new TypeError(`${action}: the source stream is locked to another reader`);
  }
  for (const name of ["map", "id"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new TypeError(
        `${action}: "${name}" must be a function, received ${describe(options[name])}`,
      );
    }
  }
  const { event } = options;
  if (event !== undefined && typeof event !== "string" && typeof event !== "function") {
    throw new TypeError(
      `${action}: "event" must be a string or a function, received ${describe(event)}`,
    );
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(
      `${action}: "signal" must be an AbortSignal, received ${describe(options.signal)}`,
    );
  }
  if (target.closed) return Promise.resolve();
  return run(target, open(source), options);
}

function toEvent<Item>(
  item: Item,
  index: number,
  options: PipeFromOptions<Item>,
): ServerSentEvent | undefined {
  if (options.map !== undefined) {
    const mapped = options.map(item, index);
    if (mapped === undefined) return undefined;
    // Another copy of the package's event is one too.
    const event = events.own(mapped);
    if (event === undefined) {
      throw new TypeError(
        `Cannot pipe into event stream: "map" must return a ServerSentEvent or undefined, received ${describe(mapped)}`,
      );
    }
    return event;
  }
  const type =
    typeof options.event === "function" ? options.event(item, index) : (options.event ?? "message");
  const id = options.id?.(item, index);
  return new ServerSentEvent(type, item, id === undefined ? {} : { id });
}

async function run<Item>(
  target: ServerSentEventTarget,
  source: Source<Item>,
  options: PipeFromOptions<Item>,
): Promise<void> {
  const { signal } = options;
  const stream = streamOf(target);
  // Ends the wait for the next item as soon as the stream or the caller stops the pipe, so a
  // source that is slow to yield (a model thinking) is cancelled at once, not after its next item.
  let stop!: () => void;
  const stopped = new Promise<"stopped">((resolve) => {
    stop = () => resolve("stopped");
  });
  const onStop = (): void => stop();
  target.signal.addEventListener("abort", onStop, { once: true });
  signal?.addEventListener("abort", onStop, { once: true });
  // Closing counts: once close() is called the stream takes no more events, so pulling more from
  // the source would only drop them (and an endless ready source would never let go).
  const halted = (): boolean => !stream.open || signal?.aborted === true;
  let index = 0;
  let done = false;
  /** Items since the pipe last waited on the event loop (for `ready`, or to yield). */
  let unyielded = 0;
  try {
    while (!halted()) {
      if (stream.waiting) {
        // Waiting for the client to take what is queued: the event loop runs meanwhile.
        unyielded = 0;
        await target.ready;
      } else if (++unyielded === YIELD_EVERY) {
        // Items that all end up skipped (`map` returning undefined, listeners cancelling them)
        // never fill the queue, so `ready` never waits: let timers and I/O run now and then.
        unyielded = 0;
        await nextTask();
      } else await target.ready;
      if (halted()) break;
      const next = source.next();
      const result = await Promise.race([next, stopped]);
      if (result === "stopped") {
        // The pending read still settles; make sure its rejection goes nowhere.
        next.catch(() => {});
        break;
      }
      if (result.done) {
        done = true;
        break;
      }
      if (halted()) break;
      const event = toEvent(result.value, index++, options);
      if (event !== undefined) target.dispatchEvent(event);
    }
  } catch (error) {
    // The source threw, or mapping an item did: the stream cannot go on. It ends first, so a
    // source whose cancel never settles (an upstream that hangs) cannot keep it open.
    target.signal.removeEventListener("abort", onStop);
    signal?.removeEventListener("abort", onStop);
    target.abort(error);
    const ended = stream.ended;
    await source.cancel(error).catch(() => {});
    source.release();
    await ended;
    return;
  }
  target.signal.removeEventListener("abort", onStop);
  signal?.removeEventListener("abort", onStop);
  if (done) {
    source.release();
    if (!options.preventClose) await target.close();
    return;
  }
  if (options.preventCancel) {
    // Work that must finish: read the rest and let it go.
    try {
      for (;;) if ((await source.next()).done) break;
    } catch {
      // Nobody is left to tell: the stream has ended or the caller stopped listening.
    }
  } else {
    const reason = signal?.aborted ? signal.reason : target.signal.reason;
    await source.cancel(reason).catch(() => {});
  }
  source.release();
}
