/**
 * How long the Redis store waits for Redis: {@linkcode Deadlines}, one timer for all of a store's
 * pending commands, and {@linkcode withTimeout} for a single wait (a subscription).
 *
 * @module
 */

/** Rejects with `message` if `promise` has not settled within `ms`; the timer never lingers. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

interface Deadline {
  readonly at: number;
  readonly fail: () => void;
  done: boolean;
}

/** An AbortSignal's one method the store needs; `AbortController` where the runtime has it. */
function abortController(): { signal: AbortSignal; abort(): void } | undefined {
  return typeof AbortController === "function" ? new AbortController() : undefined;
}

/**
 * The timeouts of a store's commands: one timer for the oldest pending one, not one per
 * command (a timer each costs about a fifth of an append's CPU). Every command has the same
 * timeout, so deadlines come in the order they were set.
 */
export class Deadlines {
  readonly #ms: number;
  #queue: Deadline[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /**
   * Runs `start` against the clock: rejects with `message` once it is `ms` late, and aborts the
   * signal `start` was given, so a command still waiting in the client's queue (Redis away) is
   * dropped rather than sent when Redis is back.
   */
  watch<T>(start: (signal: AbortSignal | undefined) => Promise<T>, message: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const controller = abortController();
      const deadline: Deadline = {
        at: Date.now() + this.#ms,
        fail: () => {
          reject(new Error(message));
          controller?.abort();
        },
        done: false,
      };
      const promise = start(controller?.signal);
      this.#queue.push(deadline);
      this.#arm();
      promise.then(
        (value) => {
          deadline.done = true;
          resolve(value);
        },
        (error: unknown) => {
          deadline.done = true;
          reject(error);
        },
      );
    });
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    while (this.#queue[this.#head]?.done) this.#head++;
    const head = this.#queue[this.#head];
    if (head === undefined) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, head.at - Date.now()));
    // Deno and Bun timers have no unref (theirs never hold the process for long either).
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    for (let deadline = this.#queue[this.#head]; deadline !== undefined; ) {
      if (!deadline.done) {
        if (deadline.at > now) break;
        deadline.done = true;
        deadline.fail();
      }
      deadline = this.#queue[++this.#head];
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#arm();
  }
}
