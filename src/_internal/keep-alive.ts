/**
 * Keep-alive scheduling for many streams with one timer.
 *
 * A stream that has been silent for a whole interval gets a comment. Rather than one
 * `setInterval` per stream (a timer object, a heap entry and a wake-up each), every stream with the
 * same interval shares one wheel that ticks a few times per interval and checks which of its
 * streams have been quiet long enough. A stream records the wheel's tick when it writes, which is a
 * single integer store.
 *
 * @module
 */

import { type Link, LinkedList } from "./linked-list.ts";

/**
 * A stream a wheel keeps alive: a link of the wheel's list itself (the stream core carries the
 * fields, so that a stream costs no object of its own on the wheel).
 */
export interface KeepAliveMember extends Link {
  /** The tick of the member's last write. */
  lastTick: number;
  /** `true` until the member's first tick. */
  fresh: boolean;
  /** Sends a keep-alive comment (which also updates `lastTick`). */
  ping(): void;
  /**
   * Called once, on the first tick after the member joined (within a slice of an interval),
   * before any ping: for work a stream that ends sooner never needs.
   */
  settle(): void;
}

/** How many ticks a shared wheel makes per interval: the worst silence is 1¼ intervals. */
const SHARED_SLICES = 4;
/**
 * A private wheel ticks once per interval and pings every time, busy or not: the stream is never
 * silent longer than one interval, so a runtime that only notices a gone client on a write (workerd)
 * notices it within one interval.
 */
const PRIVATE_SLICES = 1;

/**
 * Cloudflare Workers run a timer in the request that created it, and a stream may not be written
 * from another request's context: there, every stream gets a wheel of its own.
 */
const SHARED_TIMERS_ALLOWED =
  typeof navigator === "undefined" || navigator.userAgent !== "Cloudflare-Workers";

/** One timer that keeps every member with the same interval alive. */
export class KeepAliveWheel {
  static readonly #shared = new Map<number, KeepAliveWheel>();

  /** Counts the wheels whose timer is running, for leak checks. */
  static running = 0;

  /**
   * The wheel for `interval`: shared by every stream of this process where the runtime allows,
   * else a private one.
   */
  static for(interval: number): KeepAliveWheel {
    if (!SHARED_TIMERS_ALLOWED) return new KeepAliveWheel(interval, PRIVATE_SLICES);
    let wheel = KeepAliveWheel.#shared.get(interval);
    if (wheel === undefined) {
      wheel = new KeepAliveWheel(interval, SHARED_SLICES);
      KeepAliveWheel.#shared.set(interval, wheel);
    }
    return wheel;
  }

  /** Increases once per tick. Members compare it with their `lastTick`. */
  tick = 0;
  /** A list, not a `Set`: see `linked-list.ts` for why. */
  readonly #members = new LinkedList<KeepAliveMember>();
  readonly #interval: number;
  readonly #slices: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(interval: number, slices: number) {
    this.#interval = interval;
    this.#slices = slices;
  }

  /** Members kept alive now. */
  get size(): number {
    return this.#members.size;
  }

  add(member: KeepAliveMember): void {
    member.lastTick = this.tick;
    this.#members.add(member);
    if (this.#timer === undefined) {
      this.#timer = setInterval(
        this.#onTick,
        Math.max(1, Math.floor(this.#interval / this.#slices)),
      );
      // On Node, open streams keep the process alive through their sockets, not through this timer.
      (this.#timer as { unref?: () => void }).unref?.();
      KeepAliveWheel.running++;
    }
  }

  delete(member: KeepAliveMember): void {
    // A shared wheel keeps turning until its next tick finds it empty: under connection churn,
    // streams come and go around zero, and a new timer for each would cost more than the stream.
    if (
      this.#members.delete(member) &&
      this.#members.size === 0 &&
      this.#slices === PRIVATE_SLICES
    ) {
      this.#stop();
    }
  }

  #stop(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      KeepAliveWheel.running--;
    }
  }

  #onTick = (): void => {
    if (this.#members.size === 0) {
      this.#stop();
      // Forgotten too: with an interval per stream (jittered, or from the request) the map would
      // otherwise keep a wheel for every interval ever used. The next stream makes a new one.
      if (KeepAliveWheel.#shared.get(this.#interval) === this) {
        KeepAliveWheel.#shared.delete(this.#interval);
      }
      return;
    }
    const tick = ++this.tick;
    const quiet = tick - this.#slices;
    this.#members.forEach((member) => {
      if (member.fresh) {
        member.fresh = false;
        member.settle();
        if (member.list !== (this.#members as LinkedList<Link>)) return; // The stream ended.
      }
      if (member.lastTick <= quiet) member.ping();
    });
  };
}
