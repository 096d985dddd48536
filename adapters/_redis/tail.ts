/**
 * A Redis store's live feed in this process ({@linkcode Tail}): the channel's pub/sub messages,
 * checked to be contiguous and delivered to every subscribed feed; a jump filled from the stream,
 * a lost or rewound channel moved to a new epoch and reported `stale`.
 *
 * @module
 */
import type { EventStoreFeed } from "../../src/event-store.ts";
import type { ServerSentEvent } from "../../src/server-sent-event.ts";
import type { RedisEventStore } from "../redis.ts";
import { toEvent } from "./ids.ts";
import { type RawRead, stores } from "./store-access.ts";

/** Events a feed reads from the stream per call while it catches up. */
const FILL_BATCH = 512;
/** Live messages a feed holds while it catches up; past that it reads them from the stream. */
const MAX_BUFFERED = 10_000;
/** Recent events whose nonces a feed keeps, to tell a repeated notification from a new one. */
const RECENT = 1024;
/** Delay before a feed that could not read the stream tries again, doubled up to 8 times. */
const RETRY_DELAY = 100;

interface Position {
  epoch: string;
  sequence: number;
  /** The nonce of the event at `sequence`, once the feed has delivered one. */
  nonce?: string | undefined;
}

/**
 * A store's live feed in this process: the pub/sub messages of its channel, checked to be
 * contiguous, a jump filled from the stream (or reported `stale`).
 */
export class Tail {
  readonly #store: RedisEventStore;
  readonly feeds = new Set<EventStoreFeed>();
  readonly ready: Promise<string>;
  #position: Position | undefined;
  #buffer: string[] = [];
  #filling = false;
  #again = false;
  #closed = false;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** The nonces of the last {@linkcode RECENT} events delivered, by sequence modulo the size. */
  readonly #recentSequence = new Float64Array(RECENT);
  readonly #recentNonce: string[] = new Array<string>(RECENT).fill("");
  readonly #check: ReturnType<typeof setInterval>;

  constructor(store: RedisEventStore, start: (tail: Tail) => Promise<RawRead>, interval: number) {
    this.#store = store;
    this.ready = start(this).then((read) => {
      if (this.#closed) throw new Error("The subscription was closed before it was ready");
      this.#position = { epoch: read.epoch, sequence: read.last };
      this.#drain();
      return `${read.epoch}:${read.last}`;
    });
    this.ready.catch(() => {});
    this.#check = setInterval(() => {
      if (this.#position !== undefined) this.#fill();
    }, interval);
    // Deno and Bun timers have no unref (theirs never hold the process for long either).
    (this.#check as { unref?: () => void }).unref?.();
  }

  /** A pub/sub message: `<epoch>\n<seq>\n<nonce>\n<type>\n<retry>\n<data>`. */
  receive(message: string): void {
    if (this.#closed) return;
    if (this.#position === undefined || this.#filling) {
      this.#buffer.push(message);
      if (this.#buffer.length > MAX_BUFFERED) {
        // Everything is in the stream anyway: read it from there.
        this.#buffer = [];
        this.#again = true;
      }
      return;
    }
    if (!this.#live(message)) {
      this.#buffer.push(message);
      this.#fill();
    }
  }

  /** The subscriber connection is back: read what was published while it was away. */
  resync(): void {
    if (this.#position !== undefined) this.#fill();
  }

  close(): void {
    this.#closed = true;
    this.feeds.clear();
    clearInterval(this.#check);
    clearTimeout(this.#retry);
    this.#buffer = [];
  }

  /** Delivers `message` if it is the next event or drops it if seen; `false` on a jump. */
  #live(message: string): boolean {
    const position = this.#position!;
    const a = message.indexOf("\n");
    const b = message.indexOf("\n", a + 1);
    const c = message.indexOf("\n", b + 1);
    const d = message.indexOf("\n", c + 1);
    const e = message.indexOf("\n", d + 1);
    if (e < 0) return true; // not one of ours
    const epoch = message.slice(0, a);
    const sequence = Number(message.slice(a + 1, b));
    if (epoch !== position.epoch) return false;
    if (sequence <= position.sequence) {
      // Seen already (the overlap of a catch-up and the live feed), unless it is another event
      // under a seen id: Redis rewound. Then the catch-up finds it out and starts a new epoch.
      const slot = sequence % RECENT;
      const nonce = message.slice(b + 1, c);
      return this.#recentSequence[slot] !== sequence || this.#recentNonce[slot] === nonce;
    }
    if (sequence !== position.sequence + 1) return false;
    position.sequence = sequence;
    position.nonce = message.slice(b + 1, c);
    this.#remember(sequence, position.nonce);
    const event = toEvent(
      epoch,
      message.slice(a + 1, b),
      message.slice(c + 1, d),
      message.slice(e + 1),
      message.slice(d + 1, e),
    );
    this.#deliver(event);
    return true;
  }

  #remember(sequence: number, nonce: string): void {
    this.#recentSequence[sequence % RECENT] = sequence;
    this.#recentNonce[sequence % RECENT] = nonce;
  }

  #deliver(event: ServerSentEvent): void {
    for (const feed of this.feeds) {
      try {
        feed.event(event);
      } catch {
        // One channel's failure must not keep the event from the others.
      }
    }
  }

  #stale(reason: "expired" | "unknown", lastId: string): void {
    for (const feed of this.feeds) {
      try {
        feed.stale(reason, lastId);
      } catch {
        // As in #deliver.
      }
    }
  }

  /** Releases the held messages in order; a jump among them starts another fill. */
  #drain(): void {
    const buffer = this.#buffer;
    this.#buffer = [];
    for (let i = 0; i < buffer.length; i++) {
      if (this.#live(buffer[i]!)) continue;
      this.#buffer = buffer.slice(i);
      this.#fill();
      return;
    }
  }

  /** Reads the stream after the feed's position up to its newest event, then the held ones. */
  #fill(): void {
    if (this.#closed) return;
    if (this.#filling) {
      this.#again = true;
      return;
    }
    this.#filling = true;
    this.#catchUp().then(
      () => {
        this.#filling = false;
        this.#failures = 0;
        if (this.#closed) return;
        if (this.#again) {
          this.#again = false;
          this.#fill();
        } else {
          this.#drain();
        }
      },
      () => {
        // Redis is away: keep holding, try again later (the check timer also retries).
        this.#filling = false;
        if (this.#closed) return;
        const delay = RETRY_DELAY * 2 ** Math.min(this.#failures++, 8);
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.#fill(), delay);
        (this.#retry as { unref?: () => void }).unref?.();
      },
    );
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      this.#again = false;
      const position = this.#position!;
      // From the feed's own position on, when it knows that event's nonce: an event of another
      // nonce there means Redis rewound and issued the id again.
      const check = position.nonce !== undefined;
      const read = await stores.read(this.#store, String(position.sequence), FILL_BATCH, check);
      if (this.#closed) return;
      let entries = read.entries;
      let rewound = read.last < position.sequence;
      if (check && read.epoch === position.epoch && Number(entries[0]) === position.sequence) {
        rewound ||= entries[1] !== position.nonce;
        entries = entries.slice(5);
      }
      if (read.epoch !== position.epoch || rewound) {
        // Redis restarted empty or lost the keys (a new epoch), or rewound (a failover to a
        // replica behind): then its next sequences would repeat ids clients have seen, so the
        // channel moves to a new epoch, for every instance and every resuming client.
        const now =
          read.epoch === position.epoch
            ? await stores.rotate(this.#store, read.epoch, read.last)
            : read;
        if (this.#closed) return;
        this.#position = { epoch: now.epoch, sequence: now.last };
        this.#buffer = [];
        this.#stale("unknown", `${now.epoch}:${now.last}`);
        return;
      }
      if (read.last > position.sequence && Number(entries[0]) !== position.sequence + 1) {
        this.#position = { epoch: read.epoch, sequence: read.last };
        this.#stale("expired", `${read.epoch}:${read.last}`);
        return;
      }
      for (let i = 0; i < entries.length; i += 5) {
        const sequence = Number(entries[i]);
        if (sequence !== position.sequence + 1) {
          // An entry aged out in the middle: what follows cannot be sent without a gap.
          this.#position = { epoch: read.epoch, sequence: read.last };
          this.#stale("expired", `${read.epoch}:${read.last}`);
          return;
        }
        position.sequence = sequence;
        position.nonce = entries[i + 1];
        this.#remember(sequence, position.nonce!);
        this.#deliver(
          toEvent(read.epoch, entries[i]!, entries[i + 2]!, entries[i + 3]!, entries[i + 4]!),
        );
        if (this.#closed) return;
      }
      if (read.entries.length < FILL_BATCH * 5) return;
    }
  }
}
