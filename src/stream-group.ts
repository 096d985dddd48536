import { streamOf } from "./_internal/access.ts";
import { checkInteger, MAX_DELAY } from "./_internal/check-integer.ts";
import { Link, LinkedList } from "./_internal/linked-list.ts";
import type { Membership } from "./_internal/memberships.ts";
import { ServerSentEventTarget } from "./server-sent-event-target.ts";

/** The default `retry` of {@linkcode StreamGroup.closeAll}, in milliseconds. */
export const DEFAULT_SHUTDOWN_RETRY = 1_000;
/** The default `jitter` of {@linkcode StreamGroup.closeAll}, in milliseconds. */
export const DEFAULT_SHUTDOWN_JITTER = 4_000;
/** The default `deadline` of {@linkcode StreamGroup.closeAll}, in milliseconds. */
export const DEFAULT_SHUTDOWN_DEADLINE = 10_000;

/** Options for {@linkcode StreamGroup.closeAll}. */
export interface CloseAllOptions {
  /**
   * The reconnection time, in milliseconds, sent to each client as a final `retry:` field before
   * its stream ends. `EventSource` waits this long (plus the jitter) before it reconnects.
   * @default 1000
   */
  retry?: number;
  /**
   * Up to this many milliseconds, picked at random for each stream, are added to `retry`, so that
   * thousands of clients do not all come back in the same instant. `0` turns it off.
   * @default 4000
   */
  jitter?: number;
  /**
   * Milliseconds to wait for the streams to hand over what they have queued and end. Streams still
   * open then (clients that stopped reading) are aborted with reason `"error"`.
   * @default 10000
   */
  deadline?: number;
}

/** What {@linkcode StreamGroup.closeAll} resolves with. */
export interface CloseAllResult {
  /** Streams that ended before the deadline (cleanly, or because their client left). */
  closed: number;
  /** Streams aborted when the deadline passed. */
  aborted: number;
}

/** A target's place in a group; it leaves when its stream ends. */
class Tracked extends Link implements Membership {
  target: ServerSentEventTarget | undefined;

  constructor(target: ServerSentEventTarget) {
    super();
    this.target = target;
  }

  streamEnded(): void {
    this.list?.delete(this);
    this.target = undefined;
  }
}

/**
 * A set of open event streams that can all be ended at once, as a server must on `SIGTERM` or
 * before a deploy: each client gets a final `retry:` hint with random jitter, so they come back
 * spread over a few seconds instead of all at once, and its stream is closed cleanly.
 *
 * A tracked target leaves the group by itself when its stream ends. The Node adapter's `serve()`
 * keeps one for every event stream it serves (see its `shutdown()`).
 *
 * @example Close every stream on SIGTERM
 * ```ts
 * import { sendEvents, StreamGroup } from "sendevents";
 *
 * const streams = new StreamGroup();
 *
 * export function handler(request: Request): Response {
 *   const { response, target } = sendEvents(request);
 *   streams.track(target);
 *   return response;
 * }
 *
 * process.on("SIGTERM", async () => {
 *   const { closed, aborted } = await streams.closeAll({ retry: 2000, jitter: 5000 });
 *   console.log(`closed ${closed} streams, aborted ${aborted}`);
 * });
 * ```
 */
export class StreamGroup {
  /** A list, not a `Set`: see `linked-list.ts` for why. */
  #targets = new LinkedList<Tracked>();
  #closing: Required<CloseAllOptions> | undefined;
  #done: Promise<CloseAllResult> | undefined;

  /** The number of open streams in the group. */
  get size(): number {
    return this.#targets.size;
  }

  /**
   * Adds a target to the group until its stream ends. Once {@linkcode StreamGroup.closeAll} has
   * been called, a target tracked later is sent the `retry:` hint and closed at once (without a
   * deadline of its own).
   *
   * @param target A target from `sendEvents`.
   * @returns The same target.
   * @throws {TypeError} If `target` is not a `ServerSentEventTarget`.
   *
   * @example Track a stream
   * ```ts
   * import { sendEvents, StreamGroup } from "sendevents";
   *
   * const streams = new StreamGroup();
   * const { target } = sendEvents(new Request("http://localhost/"));
   * streams.track(target);
   * console.log(streams.size); // 1
   * ```
   */
  track<Events extends object>(
    target: ServerSentEventTarget<Events>,
  ): ServerSentEventTarget<Events> {
    if (!(target instanceof ServerSentEventTarget)) {
      throw new TypeError(
        `Cannot track stream: expected a ServerSentEventTarget, received ${String(target)}`,
      );
    }
    const plain = target as unknown as ServerSentEventTarget;
    if (target.closed) return target;
    const link = new Tracked(plain);
    if (!streamOf(plain).join(this, link)) return target;
    this.#targets.add(link);
    // Too late to join: a server shutting down closes the connections of these soon after.
    if (this.#closing !== undefined) void this.#end(plain, this.#closing);
    return target;
  }

  /**
   * Ends every stream in the group: sends each client a `retry:` field of `retry` plus a random
   * share of `jitter` milliseconds, closes the stream once what is queued has been handed over, and
   * aborts the streams still open when `deadline` passes. Calling it again returns the same promise.
   *
   * @param options `retry`, `jitter` and `deadline`, in milliseconds.
   * @returns Resolves when every stream has ended, with how many closed and how many were aborted.
   * @throws {RangeError} If an option is not a non-negative integer.
   *
   * @example Drain the streams within five seconds
   * ```ts
   * import { StreamGroup } from "sendevents";
   *
   * const streams = new StreamGroup();
   * await streams.closeAll({ retry: 1000, jitter: 4000, deadline: 5000 });
   * ```
   */
  closeAll(options: CloseAllOptions = {}): Promise<CloseAllResult> {
    const action = "Cannot close streams";
    const retry = checkInteger(
      action,
      "retry",
      options.retry ?? DEFAULT_SHUTDOWN_RETRY,
      0,
      MAX_DELAY,
    );
    // A client waits retry + jitter: past a timer's range it would reconnect at once.
    const jitter = checkInteger(
      action,
      "jitter",
      options.jitter ?? DEFAULT_SHUTDOWN_JITTER,
      0,
      MAX_DELAY - retry,
    );
    const deadline = checkInteger(
      action,
      "deadline",
      options.deadline ?? DEFAULT_SHUTDOWN_DEADLINE,
      0,
      MAX_DELAY,
    );
    const closing = { retry, jitter, deadline };
    this.#done ??= this.#closeAll(closing);
    return this.#done;
  }

  async #closeAll(closing: Required<CloseAllOptions>): Promise<CloseAllResult> {
    this.#closing = closing;
    const targets = this.#targets.toArray().map((link) => link.target!);
    const ended = targets.map((target) => this.#end(target, closing));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, closing.deadline);
    });
    let aborted = 0;
    try {
      await Promise.race([Promise.all(ended), deadline]);
    } finally {
      clearTimeout(timer);
    }
    for (const target of targets) {
      if (!target.closed) {
        aborted++;
        this.#abort(target);
      }
    }
    // Targets tracked since are handled by track(); wait for the ones we ended.
    await Promise.all(ended);
    return { closed: targets.length - aborted, aborted };
  }

  #end(target: ServerSentEventTarget, closing: Required<CloseAllOptions>): Promise<void> {
    const jitter = closing.jitter === 0 ? 0 : Math.floor(Math.random() * (closing.jitter + 1));
    streamOf(target).retry(closing.retry + jitter);
    return target.close();
  }

  #abort(target: ServerSentEventTarget): void {
    target.abort(new Error("Event stream closed: the shutdown deadline passed"));
  }
}
