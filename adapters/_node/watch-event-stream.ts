/**
 * What the Node adapter does for every event stream it serves, besides writing it: tracks it in
 * the server's {@linkcode StreamGroup} (so `shutdown()` reaches it) and gives up on a client that
 * takes nothing for `sendTimeout` milliseconds.
 *
 * The send timeout is one shared timer per `sendTimeout` value, like the keep-alive wheel, rather
 * than a socket timeout per connection: arming and clearing a timer for each connection cost more
 * than the rest of what the adapter does for a short stream.
 *
 * @module
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { checkInteger, MAX_DELAY } from "../../src/_internal/check-integer.ts";
import { Link, LinkedList } from "../../src/_internal/linked-list.ts";
import type { ServerSentEventTarget } from "../../src/server-sent-event-target.ts";
import type { StreamGroup } from "../../src/stream-group.ts";

type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * The default `sendTimeout`: one interval of the default `keepAlive`, so that a stuck client is
 * closed within two intervals of the last byte that moved.
 */
export const DEFAULT_SEND_TIMEOUT = 5_000;

/** Checks a `sendTimeout` option. */
export function checkSendTimeout(value: unknown): number | false {
  if (value === undefined) return DEFAULT_SEND_TIMEOUT;
  if (value === false) return false;
  // A timer's longest delay: a longer one would fire after 1 ms and cut every stream.
  return checkInteger(
    "Cannot create listener",
    "sendTimeout",
    value,
    1,
    MAX_DELAY,
    "false to turn it off",
  );
}

/**
 * One event stream's connection, watched for a client that takes nothing. The writer adds to
 * `written` what each write adds to the response's `writableLength` (head and framing included).
 * The direct path's `SocketSink` is its own watch (one object less per stream).
 */
export class SendWatch extends Link {
  /** What writes added to the response's unsent bytes since the last tick. */
  written = 0;
  /** Bytes Node held unsent (`writableLength`) at the last tick. */
  unsent = 0;
  readonly res: NodeResponse;

  constructor(res: NodeResponse) {
    super();
    this.res = res;
  }

  /** `true` while a clock watches it. (`list` is its clock's: no field of its own.) */
  get watched(): boolean {
    return this.list !== undefined;
  }

  /** Stops watching: the stream has ended. */
  release(): void {
    this.list?.delete(this);
  }
}

/**
 * Ticks every `sendTimeout` and destroys the connections that had bytes waiting at the last tick
 * and moved none since. So a stuck connection is noticed between one and two `sendTimeout`s after
 * its last byte moved, as with a socket timeout, and an idle stream (nothing waiting) never is.
 */
class SendClock {
  static readonly #clocks = new Map<number, SendClock>();

  static for(timeout: number): SendClock {
    let clock = SendClock.#clocks.get(timeout);
    if (clock === undefined) {
      clock = new SendClock(timeout);
      SendClock.#clocks.set(timeout, clock);
    }
    return clock;
  }

  /** A list, not a `Set`: see `linked-list.ts` for why. */
  readonly #watches = new LinkedList<SendWatch>();
  readonly #timeout: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(timeout: number) {
    this.#timeout = timeout;
  }

  add(watch: SendWatch): void {
    this.#watches.add(watch);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#onTick, this.#timeout);
      // Open streams keep the process alive through their sockets, not through this timer.
      this.#timer.unref();
    }
  }

  // A watch leaves by itself (`release`). The timer stops at the next tick that finds no stream:
  // churn around zero needs no new one.
  #onTick = (): void => {
    if (this.#watches.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#watches.forEach((watch) => {
      const res = watch.res;
      const unsent = (res as { writableLength?: number }).writableLength ?? 0;
      // What left Node since the last tick: what was waiting, plus what was written, minus what is.
      const moved = watch.unsent + watch.written - unsent;
      if (unsent > 0 && watch.unsent > 0 && moved <= 0) {
        // `close` on the response ends the target with reason "client" and releases the watch.
        res.destroy();
        return;
      }
      watch.unsent = unsent;
      watch.written = 0;
    });
  };
}

/**
 * Tracks `target` in `streams` and watches its connection for a client that takes nothing for
 * `sendTimeout` ms: one that stopped reading, or vanished without FIN or RST while events flow, is
 * noticed once the kernel's buffers are full and nothing has moved for between one and two
 * timeouts; the connection is then destroyed and the target closes with reason `"client"`.
 *
 * @param watch What to watch the connection with: the stream's `SocketSink` on the direct path,
 *   else a new `SendWatch`.
 * @returns The watch, which the writer feeds with the bytes it writes and releases when the
 *   response closes; `undefined` if `sendTimeout` is `false`.
 */
export function watchEventStream(
  res: NodeResponse,
  target: ServerSentEventTarget,
  streams: StreamGroup | undefined,
  sendTimeout: number | false,
  watch?: SendWatch,
): SendWatch | undefined {
  streams?.track(target);
  if (sendTimeout === false) return undefined;
  const clock = SendClock.for(sendTimeout);
  const watching = watch ?? new SendWatch(res);
  clock.add(watching);
  return watching;
}
