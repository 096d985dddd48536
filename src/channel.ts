import { events, streamOf } from "./_internal/access.ts";
import { checkInteger, MAX_DELAY } from "./_internal/check-integer.ts";
import { describe } from "./_internal/describe.ts";
import { assertEventType, assertRetry, serializeData } from "./_internal/format.ts";
import { Link, LinkedList } from "./_internal/linked-list.ts";
import type { Membership } from "./_internal/memberships.ts";
import type {
  EventStore,
  EventStoreFeed,
  EventStoreReadResult,
  EventStoreStaleReason,
  EventStoreSubscription,
} from "./event-store.ts";
import { MemoryEventStore } from "./memory-event-store.ts";
import { type JsonReplacer, ServerSentEvent } from "./server-sent-event.ts";
import { ServerSentEventTarget } from "./server-sent-event-target.ts";

/** The default {@linkcode ChannelOptions.staleEventType}. */
export const DEFAULT_STALE_EVENT_TYPE = "stale";
/**
 * An id no store ever issues (an event id cannot hold NUL), so every store reads it as `stale`
 * `"unknown"`: the position of a client whose `Last-Event-ID` could not be read.
 */
const FOREIGN_ID = "\u0000";
/** Events a channel reads from its store per call while it replays. */
const REPLAY_BATCH = 512;
/**
 * Bytes of live events held back for one member while its replay runs. A member further behind
 * than this is closed with `"overflow"`, as its own queue bound would; it resumes on reconnect.
 */
const MAX_HELD_BYTES = 1024 * 1024;

/** Options for {@linkcode Channel}. */
export interface ChannelOptions {
  /**
   * Where the channel keeps its recent events for replay. Give each channel its own store: replay
   * reads only this one, which is what keeps one channel's history from another's clients.
   * @default new MemoryEventStore()
   */
  store?: EventStore;
  /**
   * The type of the event sent to a client whose `Last-Event-ID` cannot be resumed from (see
   * {@linkcode Channel.register}).
   * @default "stale"
   */
  staleEventType?: string;
  /**
   * Milliseconds the store may take to answer an `append` or a replay's `read`. A broadcast whose
   * append takes longer rejects (later broadcasts are not held back); a replay whose read takes
   * longer ends that member's stream with reason `"error"`, so its client reconnects. If a timed-out
   * append completes after all, the event is in the store but live members never got it: they are
   * sent a `stale` event, never a silent gap. `false` waits for ever.
   * @default 10000
   */
  storeTimeout?: number | false;
}

/** The default {@linkcode ChannelOptions.storeTimeout}, in milliseconds. */
export const DEFAULT_STORE_TIMEOUT = 10_000;

/** Options for {@linkcode Channel.broadcast} when it is given data rather than an event. */
export interface ChannelBroadcastInit<Type extends string = string> {
  /**
   * The event type; with a typed channel, a key of its event map.
   * @default "message"
   */
  type?: Type;
  /** Sent as the `retry:` field: the client's reconnection time, in milliseconds. */
  retry?: number;
  /** Passed to `JSON.stringify` when the data is not a string. */
  replacer?: JsonReplacer;
  /** Passed to `JSON.stringify` when the data is not a string. */
  space?: string | number;
}

/** Options for {@linkcode Channel.register}. */
export interface ChannelMemberOptions<State = undefined> {
  /**
   * Decides, per event, whether this member is sent it (live and replayed events alike); called
   * with the member's `state`. A filter that throws ends this member's stream with reason
   * `"error"`; the other members are not affected.
   */
  filter?: (event: ServerSentEvent, state: State) => boolean;
  /** Anything the application keeps per member; passed to `filter`. */
  state?: State;
  /**
   * The id to resume after. Defaults to `target.lastEventId`, the request's `Last-Event-ID`; pass
   * one read elsewhere (a query parameter, say) for clients that cannot send the header, or `""`
   * to skip the replay.
   */
  lastEventId?: string;
  /**
   * How many of the channel's most recent events to send a client that does not resume (no
   * `Last-Event-ID`, or `lastEventId: ""`), before the live ones: a snapshot of recent history,
   * then live, with no gap and no duplicate even while broadcasts run. Counted among the events
   * `filter` accepts; a store holds at most what its bounds keep. A resuming client gets what it
   * missed instead.
   * @default 0
   */
  history?: number;
}

/**
 * The event types of a channel's map that a target's map does not accept (a missing type, or data
 * the target does not take); `never` when every one fits, or when the channel is untyped.
 */
export type UnacceptedEventTypes<TargetEvents, Events> = string extends keyof Events
  ? never
  : {
      [Type in keyof Events]-?: Type extends keyof TargetEvents
        ? [Events[Type]] extends [TargetEvents[Type]]
          ? never
          : Type
        : Type;
    }[keyof Events];

/**
 * A target type {@linkcode Channel.register} accepts: one whose event map takes every event of the
 * channel's (`Events`); any other target type names the types it cannot take.
 */
export type CompatibleTarget<TargetEvents extends object, Events> = [
  UnacceptedEventTypes<TargetEvents, Events>,
] extends [never]
  ? ServerSentEventTarget<TargetEvents>
  : ServerSentEventTarget<TargetEvents> & {
      /** Type-only: names the channel's event types this target's map does not accept. */
      readonly "cannot receive these channel events": UnacceptedEventTypes<TargetEvents, Events>;
    };

/** The event {@linkcode Channel.broadcast} resolves with: typed by the channel's event map. */
export type BroadcastEvent<Events, Type extends string> = string extends keyof Events
  ? ServerSentEvent
  : ServerSentEvent<Type, Events[Type & keyof Events]>;

/** A stream's membership of a channel. */
class Member extends Link implements Membership {
  readonly target: ServerSentEventTarget;
  readonly filter: ((event: ServerSentEvent, state: unknown) => boolean) | undefined;
  readonly state: unknown;
  readonly #onEnd: (member: Member) => void;
  /** Live events that arrived while the replay ran, in order; `undefined` once live. */
  held: ServerSentEvent[] | undefined;
  heldBytes = 0;
  /** While set, live events with ids up to this one were already replayed: skip them. */
  skipThrough: string | undefined = undefined;
  /** When it joined, in the channel's count of registrations: see `Channel.#fanOut`. */
  readonly joined: number;

  constructor(
    joined: number,
    target: ServerSentEventTarget,
    filter: Member["filter"],
    state: unknown,
    held: ServerSentEvent[] | undefined,
    onEnd: (member: Member) => void,
  ) {
    super();
    this.joined = joined;
    this.target = target;
    this.filter = filter;
    this.state = state;
    this.held = held;
    this.#onEnd = onEnd;
  }

  streamEnded(): void {
    this.#onEnd(this);
  }
}

/** A broadcast waiting for its store's answer, delivered in call order once settled. */
interface Pending {
  event: ServerSentEvent | undefined;
  settled: boolean;
  /** When the store's answer is overdue (`Date.now()` milliseconds). */
  deadline: number;
  /** Rejects the broadcast, once the answer is overdue. */
  reject: (error: unknown) => void;
}

/**
 * A named group of event streams that receive the same events, with lossless resume.
 *
 * `broadcast` stores each event (its id assigned by the channel's {@linkcode EventStore}) and
 * sends it to every member. The event is encoded once and every member is sent the same bytes;
 * each member's queue keeps its own bound, so a member too slow to keep up is closed with
 * `"overflow"` (and resumes when it reconnects) without slowing the others.
 *
 * `register` adds a stream. If its request carried `Last-Event-ID`, the channel first replays
 * what the client missed, from this channel's store only, then switches it to live events, with
 * no gap and no duplicate even while broadcasts run. When the id cannot be resumed from (older
 * than the store holds, from before a restart, from another channel, or forged), the client is
 * sent one `stale` event instead, never a silent gap:
 *
 * ```text
 * event: stale
 * id: <the newest id in the store: the client's position from now on>
 * data: {"reason":"expired"}        (or "unknown")
 * ```
 *
 * The client should then resynchronise (reload its state) and carry on with the live events that
 * follow. Members leave the channel when their stream ends.
 *
 * A client keeps one last event id per stream, so a stream resumes from one channel: a stream
 * that is a member of several channels (each with its own store and ids) cannot resume them all.
 * Give each resumable channel its own stream.
 *
 * @typeParam Events Maps each event type to its data type, as on `ServerSentEventTarget`:
 *   `broadcast` checks type and data against it, and `register` takes only targets whose map
 *   accepts every one of these events. Untyped by default.
 *
 * @example A chat room where reconnecting clients miss nothing
 * ```ts
 * import { Channel, sendEvents } from "sendevents";
 *
 * const room = new Channel("room");
 *
 * async function handler(request: Request): Promise<Response> {
 *   if (request.method === "POST") {
 *     await room.broadcast(await request.text(), { type: "chat" });
 *     return new Response(null, { status: 204 });
 *   }
 *   const { response, target } = sendEvents(request);
 *   void room.register(target); // replays after Last-Event-ID, then live
 *   return response;
 * }
 * ```
 */
export class Channel<Events extends object = Record<string, unknown>> {
  readonly #name: string;
  /** The name as error messages show it: cut short, since a name can be any length. */
  readonly #label: string;
  readonly #store: EventStore;
  readonly #staleEventType: string;
  /**
   * A list, not a `Map` keyed by target: see `linked-list.ts` for why. A target finds its own
   * membership through `streamOf(target).entryIn`.
   */
  readonly #members = new LinkedList<Member>();
  /** Broadcasts in call order, delivered in that order once their append settles. */
  #pending: (Pending | undefined)[] = [];
  #pendingHead = 0;
  readonly #storeTimeout: number | false;
  /** Fires when the oldest pending broadcast is overdue; set only while one may be. */
  #overdueTimer: ReturnType<typeof setTimeout> | undefined;
  /** The id of the newest event fanned out: a member's position, for a late `stale`. */
  #lastFannedOut: string | undefined;
  /** The shared store's feed while the channel has members (stores with `subscribe` only). */
  #subscription: EventStoreSubscription | undefined;
  readonly #feed: EventStoreFeed = {
    event: (event) => this.#fanOut(event),
    stale: (reason, lastId) => this.#feedStale(reason, lastId),
  };
  /** Registrations so far: each member's `joined`. */
  #joins = 0;

  /**
   * Creates a channel, with a {@linkcode MemoryEventStore} unless `options.store` gives another.
   *
   * @param name The channel's name, for the application and for stores keyed by channel.
   * @param options `store` and `staleEventType`.
   * @throws {TypeError} If `name` is not a non-empty string, `store` is not an event store, or
   *   `staleEventType` is not a valid event type.
   */
  constructor(name: string, options: ChannelOptions = {}) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(
        `Cannot create channel: the name must be a non-empty string, received ${describe(name)}`,
      );
    }
    const store = options.store ?? new MemoryEventStore();
    for (const method of ["append", "read", "trim", "compare"] as const) {
      if (typeof (store as Partial<EventStore> | null)?.[method] !== "function") {
        throw new TypeError(
          `Cannot create channel ${describe(name)}: "store" must be an EventStore with ${method}(), received ${describe(store)}`,
        );
      }
    }
    const staleEventType = options.staleEventType ?? DEFAULT_STALE_EVENT_TYPE;
    assertEventType(staleEventType, `Cannot create channel ${describe(name)}`);
    const storeTimeout = options.storeTimeout ?? DEFAULT_STORE_TIMEOUT;
    this.#storeTimeout =
      storeTimeout === false
        ? false
        : checkInteger(
            `Cannot create channel ${describe(name)}`,
            "storeTimeout",
            storeTimeout,
            1,
            MAX_DELAY,
            "false to wait for ever",
          );
    this.#name = name;
    this.#label = describe(name);
    this.#store = store;
    this.#staleEventType = staleEventType;
  }

  /** The channel's name. */
  get name(): string {
    return this.#name;
  }

  /** The store that keeps this channel's events. */
  get store(): EventStore {
    return this.#store;
  }

  /** How many streams are members now (replaying or live). */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Adds a stream to the channel. Returns at once; from then on no broadcast is missed. When the
   * client resumes (`Last-Event-ID`, or `options.lastEventId`), the events after that id are sent
   * first, then the live ones, with no gap and no duplicate; or, when that id cannot be resumed
   * from, one `stale` event (see {@linkcode Channel}). The stream leaves the channel when it ends.
   *
   * @param target A stream from `sendEvents`.
   * @param options A per-member `filter` and `state`, and the id to resume after.
   * @returns A promise that resolves once the member is live (replay done), or its stream ended.
   *   It never rejects: a store that fails ends the stream with reason `"error"`.
   * @throws {TypeError} If `target` is not a `ServerSentEventTarget`, `filter` is not a function
   *   or `lastEventId` is not a string.
   * @throws {RangeError} If `history` is not a non-negative integer.
   *
   * @example Only send a member the events of its own topic
   * ```ts
   * import { Channel, sendEvents } from "sendevents";
   *
   * const news = new Channel("news");
   * const { target } = sendEvents(new Request("http://localhost/?topic=sport"));
   * await news.register(target, {
   *   state: "sport",
   *   filter: (event, topic) => event.type === topic,
   * });
   * ```
   */
  register<State = undefined, TargetEvents extends object = Record<string, unknown>>(
    stream: CompatibleTarget<TargetEvents, Events>,
    options: ChannelMemberOptions<State> = {},
  ): Promise<void> {
    // Members are sent the events of any type: the channel does not care what a stream declares.
    const target = stream as unknown as ServerSentEventTarget;
    const action = `Cannot register on channel ${this.#label}`;
    if (!(target instanceof ServerSentEventTarget)) {
      throw new TypeError(
        `${action}: expected a ServerSentEventTarget, received ${describe(target)}`,
      );
    }
    if (options.filter !== undefined && typeof options.filter !== "function") {
      throw new TypeError(
        `${action}: "filter" must be a function, received ${describe(options.filter)}`,
      );
    }
    let lastEventId = options.lastEventId ?? target.lastEventId;
    if (typeof lastEventId !== "string") {
      throw new TypeError(
        `${action}: "lastEventId" must be a string, received ${describe(lastEventId)}`,
      );
    }
    if (options.lastEventId === undefined && streamOf(target).lastEventIdRejected) {
      // The client resumes from an id we could never have sent (too long, NUL): `stale`, not a
      // silent start from now.
      lastEventId = FOREIGN_ID;
    }
    const history =
      options.history === undefined ? 0 : checkInteger(action, "history", options.history, 0);
    if (target.closed) return Promise.resolve();
    const member = new Member(
      ++this.#joins,
      target,
      options.filter as Member["filter"],
      options.state,
      // A shared store's member waits for the feed even without an id: it is live once that is.
      lastEventId === "" && history === 0 && this.#store.subscribe === undefined ? undefined : [],
      (left) => this.#remove(left),
    );
    if (!streamOf(target).join(this, member)) return Promise.resolve();
    this.#members.add(member);
    if (this.#store.subscribe !== undefined && this.#subscription === undefined) this.#subscribe();
    if (member.held === undefined) return Promise.resolve();
    return this.#replay(member, lastEventId, history);
  }

  /**
   * Removes a stream from the channel without ending it.
   *
   * @returns `true` if it was a member.
   */
  unregister<TargetEvents extends object>(target: ServerSentEventTarget<TargetEvents>): boolean {
    const member = this.#memberOf(target as unknown as ServerSentEventTarget);
    if (member === undefined) return false;
    this.#remove(member);
    return true;
  }

  /** Whether a stream is a member. */
  has<TargetEvents extends object>(target: ServerSentEventTarget<TargetEvents>): boolean {
    return this.#memberOf(target as unknown as ServerSentEventTarget) !== undefined;
  }

  /**
   * Stores an event and sends it to every member (whose filter accepts it).
   *
   * Give data and an optional type, or a `ServerSentEvent` without an id: the store assigns the
   * id, so the event that is sent is a copy with that id. Either way it is encoded once, and
   * every member is sent the same bytes. Events reach members in the order `broadcast` was called;
   * with a shared store (one with `subscribe`, such as `RedisEventStore`), in the one order the
   * store assigned, on every instance, as its feed delivers them.
   *
   * @param data The payload (a string is sent as is, anything else as JSON), or an event.
   * @param init The event type, `retry`, and the JSON options, when `data` is not an event.
   * @returns The event as stored and sent, its `id` set. Rejects only if the store fails.
   * @throws {TypeError} If the data has no JSON form, the type is invalid, or an event already
   *   has an id.
   * @throws {RangeError} If `retry` is not a non-negative integer.
   *
   * @example Broadcast a JSON payload as a named event
   * ```ts
   * import { Channel } from "sendevents";
   *
   * const prices = new Channel("prices");
   * const sent = await prices.broadcast({ symbol: "ACME", price: 42 }, { type: "price" });
   * console.log(sent.id);
   * ```
   */
  broadcast<Type extends keyof Events & string = "message" & keyof Events>(
    data: Events[Type] | ServerSentEvent<Type, Events[Type]>,
    init: ChannelBroadcastInit<Type> = {},
  ): Promise<BroadcastEvent<Events, Type>> {
    const action = `Cannot broadcast on channel ${this.#label}`;
    let type: string;
    let text: string;
    let retry: number | undefined;
    // An event of another copy of the package is one too, not data.
    const event = events.own(data);
    if (event !== undefined) {
      // The fields as validated: an event's public properties can be shadowed.
      const fields = events.fields(event);
      if (fields.id !== undefined) {
        throw new TypeError(
          `${action}: the store assigns ids, so the event must have none, received id ${describe(fields.id)}`,
        );
      }
      type = fields.type;
      text = fields.data;
      retry = fields.retry;
    } else {
      // Each field read once, so that what is checked is what is stored.
      const { retry: rawRetry, replacer, space } = init;
      type = init.type ?? "message";
      assertEventType(type, action);
      if (rawRetry !== undefined) assertRetry(rawRetry, action);
      retry = rawRetry;
      text = serializeData(data, `${action}: event ${describe(type)}`, replacer, space);
    }
    return new Promise<BroadcastEvent<Events, Type>>((resolve, reject) => {
      const timeout = this.#storeTimeout;
      const slot: Pending = {
        event: undefined,
        settled: false,
        deadline: timeout === false ? Number.POSITIVE_INFINITY : Date.now() + timeout,
        reject,
      };
      this.#pending.push(slot);
      this.#watchOverdue();
      let appended: Promise<ServerSentEvent>;
      try {
        appended = Promise.resolve(this.#store.append({ type, data: text, retry }));
      } catch (error) {
        // A store that throws at once fails this broadcast alone, as one that rejects does.
        appended = Promise.reject(error);
      }
      appended
        .then((appendedEvent) => {
          const event = storedEvent(appendedEvent);
          if (event === undefined) {
            throw new TypeError(
              `${action}: the store's append() must resolve with a ServerSentEvent with an id, received ${describe(appendedEvent)}`,
            );
          }
          if (slot.settled) {
            // Overdue: it was rejected, and later broadcasts went out first.
            this.#lateAppend(event);
            return;
          }
          slot.event = event;
          slot.settled = true;
          resolve(event as BroadcastEvent<Events, Type>);
          this.#deliverSettled();
        })
        .catch((error: unknown) => {
          if (slot.settled) return;
          slot.settled = true;
          reject(error);
          this.#deliverSettled();
        });
    });
  }

  /** Sends every settled broadcast at the head of the queue, in call order. */
  #deliverSettled(): void {
    const pending = this.#pending;
    for (let slot = pending[this.#pendingHead]; slot?.settled; slot = pending[this.#pendingHead]) {
      pending[this.#pendingHead++] = undefined;
      // A shared store's feed delivers every append, ours included, in the store's one order.
      if (slot.event !== undefined && this.#store.subscribe === undefined) this.#fanOut(slot.event);
    }
    if (this.#pendingHead === pending.length) {
      this.#pending = [];
      this.#pendingHead = 0;
    }
  }

  /**
   * Arms the timer for the oldest pending broadcast's deadline, unless it is armed. One timer per
   * channel, not one per broadcast: under steady broadcasting it is set once per timeout.
   */
  #watchOverdue(): void {
    if (this.#overdueTimer !== undefined || this.#storeTimeout === false) return;
    const head = this.#pending[this.#pendingHead];
    if (head === undefined) return;
    const timer = setTimeout(
      () => {
        this.#overdueTimer = undefined;
        this.#failOverdue();
      },
      Math.max(0, head.deadline - Date.now()),
    );
    // The channel's own bookkeeping must not keep a process alive (Node, Deno, Bun).
    (timer as { unref?: () => void }).unref?.();
    this.#overdueTimer = timer;
  }

  /** Rejects the broadcasts whose store is overdue, so the ones after them are delivered. */
  #failOverdue(): void {
    const now = Date.now();
    const pending = this.#pending;
    for (let i = this.#pendingHead; i < pending.length; i++) {
      const slot = pending[i]!;
      if (slot.deadline > now) break;
      if (slot.settled) continue;
      slot.settled = true;
      slot.reject(
        new Error(
          `Cannot broadcast on channel ${this.#label}: the store did not answer within ${this.#storeTimeout} ms`,
        ),
      );
    }
    this.#deliverSettled();
    this.#watchOverdue();
  }

  /**
   * An append that completed after its broadcast was rejected as overdue: the event is in the
   * store, but the members never got it live and later events went out before it. Tell them.
   */
  #lateAppend(event: ServerSentEvent): void {
    if (this.#store.subscribe !== undefined) return; // the feed delivers it, in its place
    let position = event.id!;
    const last = this.#lastFannedOut;
    if (last !== undefined && this.#store.compare(last, position) > 0) position = last;
    this.#members.forEach((member) => {
      this.#sendStale(member, "expired", position);
    });
  }

  #fanOut(event: ServerSentEvent): void {
    this.#lastFannedOut = event.id;
    // Encoded here once (a ServerSentEvent caches its bytes); every member is sent these bytes.
    const size = events.frame(event).byteLength;
    // Members that join during the fan-out (from a listener) are past this event: one that left
    // and came back was sent it already, and a replay finds it in the store.
    const newest = this.#joins;
    this.#members.forEach((member) => {
      if (member.joined > newest) return;
      if (member.held !== undefined) {
        member.held.push(event);
        member.heldBytes += size;
        if (member.heldBytes > MAX_HELD_BYTES) streamOf(member.target).fail("overflow");
        return;
      }
      if (member.skipThrough !== undefined) {
        if (this.#store.compare(event.id!, member.skipThrough) <= 0) return;
        member.skipThrough = undefined;
      }
      this.#send(member, event);
    });
  }

  #send(member: Member, event: ServerSentEvent): void {
    if (member.filter !== undefined) {
      let accepted: boolean;
      try {
        accepted = member.filter(event, member.state);
      } catch (error) {
        // One member's broken filter must not keep the event from the others.
        member.target.abort(error);
        return;
      }
      if (!accepted) return;
    }
    member.target.dispatchEvent(event);
  }

  #memberOf(target: ServerSentEventTarget): Member | undefined {
    return streamOf(target).entryIn(this) as Member | undefined;
  }

  #remove(member: Member): void {
    if (!this.#members.delete(member)) return;
    streamOf(member.target).part(this);
    member.held = undefined;
    if (this.#members.size === 0 && this.#subscription !== undefined) {
      this.#subscription.close();
      this.#subscription = undefined;
    }
  }

  /** Opens the shared store's feed; a feed that cannot start ends the members with `"error"`. */
  #subscribe(): void {
    const subscription = this.#store.subscribe!(this.#feed);
    this.#subscription = subscription;
    subscription.ready.then(undefined, (error: unknown) => {
      if (this.#subscription !== subscription) return;
      subscription.close();
      this.#subscription = undefined;
      // They miss events from here on: end them, so their clients reconnect and resume.
      this.#members.forEach((member) => {
        this.#remove(member);
        member.target.abort(error);
      });
    });
  }

  /** The shared feed skipped: every member must resynchronise, replaying or live. */
  #feedStale(reason: EventStoreStaleReason, lastId: string): void {
    this.#members.forEach((member) => {
      member.held = undefined;
      member.heldBytes = 0;
      member.skipThrough = undefined;
      this.#sendStale(member, reason, lastId);
    });
  }

  async #replay(member: Member, lastEventId: string, history: number): Promise<void> {
    const { target } = member;
    let after = lastEventId;
    let replayed: string | undefined;
    // A fresh client that asked for `history`: the store is read from its oldest event, keeping
    // only the newest `history` accepted ones, which are sent once the read has caught up.
    const recent: ServerSentEvent[] | undefined =
      lastEventId === "" && history > 0 ? [] : undefined;
    try {
      // Read only once the feed is live, so the history and the feed overlap: no gap between.
      if (this.#subscription !== undefined) await this.#subscription.ready;
      for (;;) {
        if (member.held === undefined) return;
        if (lastEventId === "" && recent === undefined) break;
        const result = await this.#read(after);
        if (member.held === undefined) return; // the stream ended or left the channel
        if (result.stale !== undefined) {
          this.#sendStale(member, result.stale, result.lastId);
          replayed = result.lastId === "" ? undefined : result.lastId;
          break;
        }
        // The client has seen everything up to the id it sent: never send that again either.
        if (lastEventId !== "") replayed ??= lastEventId;
        let progressed = false;
        for (const read of result.events) {
          const event = storedEvent(read);
          if (event === undefined) {
            throw new TypeError(
              `Cannot replay channel ${this.#label}: the store's read() must give ServerSentEvents with ids, received ${describe(read)}`,
            );
          }
          // A store that also returns the id it was asked after (a range that includes its start),
          // or an event it gave already: the client has it, so it is never sent twice.
          if (replayed !== undefined && this.#store.compare(event.id!, replayed) <= 0) continue;
          if (recent !== undefined) {
            replayed = event.id!;
            progressed = true;
            if (member.filter !== undefined && !member.filter(event, member.state)) continue;
            recent.push(event);
            if (recent.length >= 2 * history) recent.splice(0, recent.length - history);
            continue;
          }
          await target.ready;
          if (member.held === undefined) return;
          this.#send(member, event);
          replayed = event.id!;
          progressed = true;
        }
        if (result.events.length < REPLAY_BATCH) break;
        if (!progressed) {
          // A full page with nothing new: asking again after the same id would loop for ever.
          throw new Error(
            `Cannot replay channel ${this.#label}: the store's read() after ${describe(after)} returned no event after it`,
          );
        }
        // Caught up with what arrived live meanwhile: the rest is held. (Not for a snapshot,
        // which must end with the newest stored events, not with the held ones after it.)
        const first = member.held[0];
        if (
          recent === undefined &&
          first !== undefined &&
          this.#store.compare(replayed!, first.id!) >= 0
        ) {
          break;
        }
        after = replayed!;
      }
      if (recent !== undefined) {
        for (const event of recent.slice(-history)) {
          await target.ready;
          if (member.held === undefined) return;
          // Accepted by the filter when it was read.
          target.dispatchEvent(event);
        }
      }
    } catch (error) {
      if (member.held !== undefined) {
        this.#remove(member);
        target.abort(error);
        await streamOf(target).ended;
      }
      return;
    }
    // Release what arrived during the replay, skipping what the replay already sent.
    const held = member.held;
    member.held = undefined;
    member.heldBytes = 0;
    for (const event of held) {
      if (target.closed) return;
      if (replayed !== undefined && this.#store.compare(event.id!, replayed) <= 0) continue;
      replayed = undefined;
      this.#send(member, event);
    }
    // Events the store returned may still be on their way to fan-out: skip them there.
    member.skipThrough = replayed;
  }

  /** One page of the store after `after`, or a rejection once the store is overdue. */
  async #read(after: string): Promise<EventStoreReadResult> {
    const reading = this.#store.read(after, { limit: REPLAY_BATCH });
    const timeout = this.#storeTimeout;
    if (timeout === false) return await reading;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overdue = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `Cannot replay channel ${this.#label}: the store did not answer within ${timeout} ms`,
            ),
          ),
        timeout,
      );
    });
    try {
      return await Promise.race([reading, overdue]);
    } finally {
      clearTimeout(timer);
    }
  }

  #sendStale(member: Member, reason: EventStoreStaleReason, lastId: string): void {
    member.target.dispatchEvent(
      new ServerSentEvent(this.#staleEventType, { reason }, { id: lastId }),
    );
  }
}

/**
 * What a store gave, as an event a channel can send (one with an id), or `undefined`. A store that
 * brings its own copy of the package gives that copy's events: they are taken as ours.
 */
function storedEvent(value: unknown): ServerSentEvent | undefined {
  const event = events.own(value);
  return event !== undefined && typeof events.fields(event).id === "string" ? event : undefined;
}
