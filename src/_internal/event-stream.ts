/**
 * The stream core behind every `ServerSentEventTarget`: its lifecycle, its bounded byte queue and
 * `ready`, its sink, its keep-alive, the groups it joined and the watch on its request. The public
 * target (`src/server-sent-event-target.ts`) holds one in a `#private` field and turns the API
 * into calls on it; internal code reaches it through `streamOf(target)` (`access.ts`).
 *
 * ## States
 *
 * `OPEN` → `CLOSING` (only through `close()`: queued bytes still to hand over) → `CLOSED`. Any state
 * but `CLOSED` may go to `CLOSED` at once:
 * - `leave()`: the client is gone (reason `"client"`), or takes no body (`"server"`, a `HEAD`);
 * - `fail()`: the queue overflowed (`"overflow"`) or something failed (`"error"`); the sink aborts
 *   the body, so the client sees a broken stream and reconnects;
 * - the pull that empties a `CLOSING` queue ends the body (`"server"`).
 *
 * `#finish` is the one way into `CLOSED`: it stops the keep-alive, drops the queue, runs the end
 * hooks, tells every group, resolves `ready`, aborts `signal`, fires `close` on the target once,
 * and resolves `close()`.
 *
 * @module
 */

import type { ServerSentEventTargetOptions } from "../server-sent-event-target.ts";
import { type CloseReason, StreamCloseEvent } from "../stream-close-event.ts";
import { ByteQueue, takenTextBytes } from "./byte-queue.ts";
import { checkInteger, MAX_DELAY } from "./check-integer.ts";
import { counters } from "./counters.ts";
import { formatData, formatRetry, KEEP_ALIVE_FRAME } from "./format.ts";
import { type KeepAliveMember, KeepAliveWheel } from "./keep-alive.ts";
import type { Link, LinkedList } from "./linked-list.ts";
import {
  addMembership,
  endMemberships,
  type Membership,
  type Memberships,
  membershipIn,
  removeMembership,
} from "./memberships.ts";
import { onAbort, signalOf } from "./request-watch.ts";
import type { StreamSink } from "./sink.ts";

/** The default `keepAlive`: under Bun's 10 s idle timeout, and cheap. */
export const DEFAULT_KEEP_ALIVE = 5_000;
/** The default `highWaterMark`: `ready` waits once this many bytes are queued. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/** The default `maxBufferedAmount`: a client this far behind is closed with `"overflow"`. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 1024 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();
/** The least text (in UTF-16 units) worth a write of its own: see `#atMark`. */
const MIN_FLUSH = 16 * 1024;
/**
 * Data this long is checked against `maxBufferedAmount` before its frame is made (`cannotFit`), so
 * that a payload the bound refuses is never formatted; shorter data is checked with its frame.
 */
const CHECK_FIT_FROM = 1024;
/** The keep-alive comment, as the text a stream opens with. */
const OPENING_TEXT = ":\n\n";
const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/** Listener types a stream tells apart before it raises every event locally: see `#listened`. */
const MAX_LISTENED_TYPES = 16;

/** `close` is raised on the target itself, past its `dispatchEvent` (which sends events). */
const raise = EventTarget.prototype.dispatchEvent;

/** What a stream knows of its request, beside the target's options. */
export interface StreamInit extends ServerSentEventTargetOptions {
  lastEventId: string;
  /** The request carried a `Last-Event-ID` that cannot be an id (`lastEventId` reads `""`). */
  lastEventIdRejected?: boolean;
}

/**
 * The stream core of one target. It is its own place on its keep-alive wheel (`prev`, `next`,
 * `list`, `lastTick`, `fresh`: see `keep-alive.ts`), so that a stream costs no object there.
 */
export class EventStream extends ByteQueue implements KeepAliveMember {
  prev: Link | undefined = undefined;
  next: Link | undefined = undefined;
  list: LinkedList<Link> | undefined = undefined;
  lastTick = 0;
  fresh = true;
  /** The public target: `close` is raised on it. */
  readonly #owner: EventTarget;
  #state = OPEN;
  #sink: StreamSink | undefined;
  /** `wake()` was called and no pull has happened since. */
  #woken = false;
  readonly #highWaterMark: number;
  readonly #maxBufferedAmount: number;
  #closeReason: CloseReason | undefined;
  #ready: Promise<void> = RESOLVED;
  #resolveReady: (() => void) | undefined;
  /** The wheel that keeps the stream alive; `undefined` without keep-alive, or once it stopped. */
  #wheel: KeepAliveWheel | undefined;
  /** `signal`, `ended` and `onEnd`'s cleanups, made on first use (most streams use none). */
  #endings: Endings | undefined;
  #groups: Memberships | undefined;
  /** The request whose `signal` is watched from the first keep-alive tick on. */
  #request: Request | undefined;
  /**
   * Types that have ever had a listener; the others skip the local dispatch. `true` once there
   * have been more than {@linkcode MAX_LISTENED_TYPES}: every type is raised then, rather than
   * keep the name of every type ever listened to (a type per request awaited, say) and scan them
   * all on every dispatch.
   */
  #listened: string | string[] | true | undefined;
  /** The request's `Last-Event-ID`, or `""`. */
  readonly lastEventId: string;
  /**
   * `true` if the request carried a `Last-Event-ID` that cannot be an id (over 1024 characters,
   * CR, LF, NUL), which `lastEventId` reads as `""`: the client did resume, from nowhere we know.
   */
  readonly lastEventIdRejected: boolean;

  /** @throws {RangeError} If an option is out of range; nothing is opened then. */
  constructor(owner: EventTarget, init: StreamInit) {
    super();
    const action = "Cannot send events";
    const highWaterMark = checkInteger(
      action,
      "highWaterMark",
      init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      0,
    );
    // The stream opens with a comment, and keep-alives are the same comment: a bound smaller than
    // it would end every stream at once.
    const maxBufferedAmount = checkInteger(
      action,
      "maxBufferedAmount",
      init.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT,
      Math.max(KEEP_ALIVE_FRAME.byteLength, highWaterMark),
    );
    const keepAlive = init.keepAlive ?? DEFAULT_KEEP_ALIVE;
    if (keepAlive !== false) {
      checkInteger(action, "keepAlive", keepAlive, 1, MAX_DELAY, "false to send none");
    }
    this.#owner = owner;
    this.#highWaterMark = highWaterMark;
    this.#maxBufferedAmount = maxBufferedAmount;
    this.lastEventId = init.lastEventId;
    this.lastEventIdRejected = init.lastEventIdRejected === true;
    counters.open++;
    counters.opened++;
    // The body opens with a comment, which clients ignore: runtimes that hold the headers until
    // the first body byte (Bun, workerd) then send them at once. Queued as text, so that it is
    // encoded with the text dispatched before the first take (one chunk, no block).
    this.enqueueEncodedText(OPENING_TEXT, KEEP_ALIVE_FRAME);
    this.#queued(false);
    if (keepAlive !== false) {
      const wheel = KeepAliveWheel.for(keepAlive);
      wheel.add(this);
      this.#wheel = wheel;
    }
  }

  // ---- state ----

  /** `true` while the stream takes events: not closing (`close()` waiting to drain) or closed. */
  get open(): boolean {
    return this.#state === OPEN;
  }

  /** `true` once the stream has ended. */
  get closed(): boolean {
    return this.#state === CLOSED;
  }

  /** Aborted when the stream ends; made on first use (most streams never need one). */
  get signal(): AbortSignal {
    const endings = this.#endingsMade();
    if (endings.abort === undefined) {
      endings.abort = new AbortController();
      if (this.#state === CLOSED) endings.abort.abort(closeError(this.#closeReason!));
    }
    return endings.abort.signal;
  }

  /** See `ServerSentEventTarget.ready`. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** `true` while `ready` is pending: the queue is over `highWaterMark`. */
  get waiting(): boolean {
    return this.#resolveReady !== undefined;
  }

  /** Resolves once the stream has ended, for whatever reason. */
  get ended(): Promise<void> {
    const endings = this.#endingsMade();
    if (endings.closed === undefined) {
      if (this.#state === CLOSED) endings.closed = RESOLVED;
      else
        endings.closed = new Promise((resolve) => {
          endings.resolveClosed = resolve;
        });
    }
    return endings.closed;
  }

  // ---- local listeners ----

  /** Records that `type` has a listener on the target. */
  listen(type: string): void {
    // One type, or a few: a string or an array costs less than a Set on every stream.
    const listened = this.#listened;
    if (listened === undefined) this.#listened = type;
    else if (typeof listened === "string") {
      if (listened !== type) this.#listened = [listened, type];
    } else if (listened !== true && !listened.includes(type)) {
      if (listened.length === MAX_LISTENED_TYPES) this.#listened = true;
      else listened.push(type);
    }
  }

  /** Whether `type` may have a listener on the target (else its local dispatch is skipped). */
  hears(type: string): boolean {
    const listened = this.#listened;
    return (
      listened === type ||
      listened === true ||
      (typeof listened === "object" && listened.includes(type))
    );
  }

  // ---- the queue ----

  /** Queues bytes for the client (an event's shared frame, a keep-alive). */
  push(bytes: Uint8Array): boolean {
    if (this.queuedAtLeast(this.#maxBufferedAmount + 1 - bytes.byteLength)) {
      this.fail("overflow");
      return this.refuse();
    }
    this.enqueue(bytes);
    return this.#queued(bytes !== KEEP_ALIVE_FRAME);
  }

  /**
   * Queues a frame's text for the client, to be encoded with the rest of the queue when the sink
   * takes it: what `dispatchMessage` and `dispatchComment` send (an event dispatched as a
   * `ServerSentEvent` is encoded once on the event instead, so that many streams share its bytes).
   */
  pushText(text: string): boolean {
    // Surely below the mark, the frame is below the bound too (which is never under the mark):
    // most frames need this one check.
    const below = this.enqueueTextUnder(text, this.#highWaterMark);
    if (!below && this.queuedAtLeast(this.#maxBufferedAmount + 1)) {
      this.fail("overflow");
      return this.refuse();
    }
    return this.#queued(true, below);
  }

  /**
   * Sends a `message` event of `data`, with no other field: `dispatchMessage(data)` of a string on
   * a target nobody listens on, which is most dispatches.
   */
  sendData(data: string): boolean {
    if (this.#state !== OPEN) return this.refuse();
    if (data.length >= CHECK_FIT_FROM && this.cannotFit(data)) return this.refuse();
    return this.pushText(formatData(data));
  }

  /**
   * What every frame queued does: counts, keep-alive, `ready`, and one wake of the sink. `below`:
   * the queue is known to be under the mark.
   */
  #queued(counted: boolean, below = false): true {
    if (counted) counters.eventsSent++;
    if (this.#wheel !== undefined) this.lastTick = this.#wheel.tick;
    if (
      !below &&
      this.#resolveReady === undefined &&
      this.queuedAtLeast(this.#highWaterMark, true)
    ) {
      if (this.#atMark()) return true;
    }
    this.#wake();
    return true;
  }

  /**
   * The queue has reached `highWaterMark`. A sink that writes text and can take it now (a socket
   * not waiting for `drain`) takes the whole queue, as one string: a producer that outruns a fast
   * socket, in one turn, fills the batches a hand-tuned server writes, and goes on with an empty
   * queue. Otherwise `ready` waits. Returns `true` if the queue was taken.
   */
  #atMark(): boolean {
    const sink = this.#sink;
    if (sink?.flush !== undefined && this.textOnlyUnits >= MIN_FLUSH) {
      sink.flush();
      if (!this.queuedAtLeast(1)) return true;
    }
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    return false;
  }

  /** Bytes queued, exactly. Text below the mark is counted as text, where its sink can. */
  get queuedBytes(): number {
    return this.queuedExactly(this.#resolveReady === undefined);
  }

  protected override countText(text: string): number | undefined {
    return this.#sink?.countText?.(text);
  }

  /**
   * Whether a frame carrying `text` cannot fit in the queue, which then overflows. UTF-8 takes at
   * least a byte per UTF-16 unit, so this is known before formatting and encoding the text: a
   * payload the bound refuses never costs its size several times over (a line per line break, then
   * the bytes) on the way to being refused.
   */
  cannotFit(text: string): boolean {
    if (!this.queuedAtLeast(this.#maxBufferedAmount + 1 - text.length)) return false;
    this.fail("overflow");
    return true;
  }

  /** Counts a dispatch that sent nothing because the stream had ended; returns `false`. */
  refuse(): false {
    counters.drops++;
    return false;
  }

  /** Queues a lone `retry:` field (no event); `false` if the stream is not open. */
  retry(retry: number): boolean {
    return this.#state === OPEN && this.pushText(formatRetry(retry));
  }

  // ---- the sink ----

  /** `true` once something drains the stream (see {@linkcode EventStream.attach}). */
  get attached(): boolean {
    return this.#sink !== undefined;
  }

  /** Drains the stream into `sink`: the fetch path's body source, or an adapter's socket. */
  attach(sink: StreamSink): void {
    if (this.#sink !== undefined) throw new TypeError("Cannot attach: the stream is being read");
    this.#sink = sink;
    if (this.#state === CLOSED) {
      // Ended before anything drained it (an overflow while the handler ran, say): the sink must
      // still give the client a definite end. A failure stays a failure, so that the client sees
      // a broken stream and reconnects; only a client that left is released quietly.
      const reason = this.#closeReason!;
      if (reason === "client") sink.leave();
      else if (reason === "server") sink.end();
      else sink.abort(closeError(reason));
      return;
    }
    this.#woken = true;
    sink.wake();
    // No keep-alive tick will come to let an unread body go: let it go now (it is held weakly,
    // and watched, until its first read).
    if (this.#wheel === undefined) sink.unread?.();
  }

  /** The sink can take more: hands it the whole queue as one chunk; completes a pending close. */
  pull(): void {
    this.#woken = false;
    if (this.#state === CLOSED) return;
    const sink = this.#sink!;
    const text = sink.writeText === undefined ? undefined : this.takeText();
    if (text !== undefined) {
      const bytes = takenTextBytes();
      counters.bytesSent += bytes;
      // As many bytes as units: ASCII, which is its own Latin-1.
      sink.writeText!(text, bytes === text.length);
      this.#releaseReady();
    } else {
      const chunk = this.take();
      if (chunk !== undefined) {
        counters.bytesSent += chunk.byteLength;
        sink.write(chunk);
        this.#releaseReady();
      }
    }
    if (this.#state === CLOSING) this.#end();
  }

  #wake(): void {
    if (!this.#woken && this.#sink !== undefined) {
      this.#woken = true;
      this.#sink.wake();
    }
  }

  // ---- ending ----

  /**
   * Ends the stream cleanly once everything queued is handed over (reason `"server"`); with
   * `timeout`, aborts it with `"error"` if that takes longer.
   */
  close(timeout?: number): Promise<void> {
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#stopKeepAlive();
      // What is queued is handed over first; the sink ends the body on the pull that empties it.
      // Text waiting counts too, without encoding it just to learn that it is there.
      if (!this.queuedAtLeast(1)) this.#end();
      else {
        // Waiting on the runtime now, with no keep-alive tick to come: watch the signal at once.
        this.settle();
        this.#wake();
      }
    }
    if (timeout !== undefined && this.#state === CLOSING) this.#abortAfter(timeout);
    return this.ended;
  }

  /** Ends the stream at once, dropping what is queued: the runtime aborts the connection. */
  fail(reason: "overflow" | "error", error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#sink?.abort(error ?? new Error(`Event stream closed: ${reason}`));
    this.#finish(reason, error);
  }

  /**
   * The client is gone (`"client"`), or takes no body (`"server"`: the answer to a `HEAD`):
   * release the body quietly, so the runtime stops waiting on it.
   */
  leave(reason: "client" | "server" = "client"): void {
    if (this.#state === CLOSED) return;
    this.#sink?.leave();
    this.#finish(reason);
  }

  #endingsMade(): Endings {
    if (this.#endings === undefined) this.#endings = new Endings();
    return this.#endings;
  }

  /** Runs `cleanup` when the stream ends (at once if it has), before `close` fires. */
  onEnd(cleanup: () => void): void {
    if (this.#state === CLOSED) cleanup();
    else {
      const endings = this.#endingsMade();
      if (endings.cleanups === undefined) endings.cleanups = [cleanup];
      else endings.cleanups.push(cleanup);
    }
  }

  /** Aborts the stream with reason `"error"` if `close()` has not completed within `ms`. */
  #abortAfter(ms: number): void {
    const timer = setTimeout(() => {
      this.fail(
        "error",
        new Error(
          `Event stream closed: the client did not take what was queued within ${ms} ms of close()`,
        ),
      );
    }, ms);
    this.onEnd(() => clearTimeout(timer));
  }

  /** The queue is empty and `close()` was called: end the body, then the stream. */
  #end(): void {
    if (this.#sink === undefined) return; // The first pull ends it.
    this.#sink.end();
    this.#finish("server");
  }

  /** Called once a stream has ended for any reason: releases everything, then fires `close`. */
  #finish(reason: CloseReason, error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#closeReason = reason;
    this.#stopKeepAlive();
    counters.open--;
    counters.closes[reason]++;
    this.clear();
    this.#request = undefined;
    const endings = this.#endings;
    const cleanups = endings?.cleanups;
    if (cleanups !== undefined) {
      endings!.cleanups = undefined;
      for (const cleanup of cleanups) cleanup();
    }
    const groups = this.#groups;
    if (groups !== undefined) {
      this.#groups = undefined;
      endMemberships(groups);
    }
    this.#releaseReady();
    endings?.abort?.abort(closeError(reason));
    if (this.hears("close")) {
      raise.call(this.#owner, new StreamCloseEvent("close", { reason, error }));
    }
    endings?.resolveClosed?.();
  }

  #releaseReady(): void {
    const resolve = this.#resolveReady;
    if (resolve !== undefined) {
      this.#resolveReady = undefined;
      this.#ready = RESOLVED;
      resolve();
    }
  }

  // ---- keep-alive and the request ----

  /** A keep-alive tick found the stream silent. */
  ping(): void {
    if (this.#state === OPEN) this.push(KEEP_ALIVE_FRAME);
  }

  /** The first keep-alive tick: bind the request's signal now; let an unread body go. */
  settle(): void {
    this.#sink?.unread?.();
    const request = this.#request;
    if (request !== undefined) {
      this.#request = undefined;
      if (this.#state !== CLOSED) this.#watchSignal(signalOf(request));
    }
  }

  /**
   * Ends the stream with reason `"client"` once `request`'s signal aborts, watched from the first
   * keep-alive tick on (at once without keep-alive; see `request-watch.ts`). A `close()` that
   * must wait for the runtime to take what is queued binds it at once.
   */
  watchRequest(request: Request): void {
    if (this.#wheel === undefined) this.#watchSignal(signalOf(request));
    else this.#request = request;
  }

  #watchSignal(signal: AbortSignal | undefined): void {
    const stop = onAbort(signal, () => this.leave());
    if (stop !== undefined) this.onEnd(stop);
  }

  #stopKeepAlive(): void {
    if (this.#wheel !== undefined) {
      this.#wheel.delete(this);
      this.#wheel = undefined;
    }
  }

  // ---- groups ----

  /** Records that the stream joined `group` with `entry` there; `false` if it had already. */
  join(group: object, entry: Membership): boolean {
    if (this.#groups === undefined) {
      this.#groups = [group, entry];
      return true;
    }
    return addMembership(this.#groups, group, entry);
  }

  /** The stream's entry in `group`, or `undefined` if it is not a member. */
  entryIn(group: object): Membership | undefined {
    return this.#groups === undefined ? undefined : membershipIn(this.#groups, group);
  }

  /** Forgets `group`. */
  part(group: object): void {
    if (this.#groups !== undefined) removeMembership(this.#groups, group);
  }
}

/** What a stream's end settles besides the stream itself: see `EventStream.#endings`. */
class Endings {
  abort: AbortController | undefined = undefined;
  closed: Promise<void> | undefined = undefined;
  resolveClosed: (() => void) | undefined = undefined;
  cleanups: (() => void)[] | undefined = undefined;
}

/** The reason a target's `signal` carries once its stream has ended. */
export function closeError(reason: CloseReason): DOMException {
  return new DOMException(`Event stream closed: ${reason}`, "AbortError");
}
