/**
 * A tiny fan-out with history for the demo: publish an event once, every member gets it, and a
 * member that reconnects with `Last-Event-ID` first gets what it missed.
 *
 * Ids are a counter, so a client's `Last-Event-ID` says exactly where it stopped. The history is
 * bounded (`limit` events), and an id the history no longer holds (or one from before a restart)
 * gets a `stale` event, so the page can say "some events were lost" instead of a silent gap.
 *
 * @module
 */
import { ServerSentEvent } from "sendevents";

/**
 * @param {{ limit?: number }} [options]
 */
export function createTopic({ limit = 100 } = {}) {
  /** @type {Set<import("sendevents").ServerSentEventTarget>} */
  const members = new Set();
  /** @type {ServerSentEvent[]} */
  const history = [];
  let lastId = 0;
  // Ids from an earlier run of the server must not be mistaken for ours: they start with the
  // second the topic was made (base 36, last four digits: unique over about 19 days).
  const epoch = Math.floor(Date.now() / 1000)
    .toString(36)
    .slice(-4);

  return {
    get size() {
      return members.size;
    },
    get lastId() {
      return lastId === 0 ? "" : `${epoch}-${lastId}`;
    },

    /**
     * Sends an event to every member and keeps it for those who reconnect. The event is built
     * (and encoded to bytes) once, whatever the number of members.
     *
     * @param {string} type
     * @param {unknown} data
     */
    publish(type, data) {
      lastId++;
      const event = new ServerSentEvent(type, data, { id: `${epoch}-${lastId}` });
      history.push(event);
      if (history.length > limit) history.shift();
      for (const target of members) target.dispatchEvent(event);
      return event;
    },

    /**
     * Sends an event to every member without keeping it: for state that a reconnect re-sends.
     *
     * @param {ServerSentEvent} event
     */
    send(event) {
      for (const target of members) target.dispatchEvent(event);
    },

    /**
     * Replays what `target` missed since its `Last-Event-ID` (all of the history when
     * `replayAll` is set and there is no id), then adds it to the members until its stream ends.
     *
     * @param {import("sendevents").ServerSentEventTarget} target
     * @param {{ replayAll?: boolean }} [options]
     * @returns {number} How many events were replayed.
     */
    join(target, { replayAll = false } = {}) {
      const missed = since(target.lastEventId, replayAll);
      if (missed === undefined) {
        target.dispatchEvent(new ServerSentEvent("stale", { lastEventId: target.lastEventId }));
      }
      for (const event of missed ?? []) target.dispatchEvent(event);
      if (!target.closed) {
        members.add(target);
        target.addEventListener("close", () => members.delete(target), { once: true });
      }
      return missed?.length ?? 0;
    },

    /** Ends every member's stream (each client will reconnect and resume). */
    async closeAll() {
      await Promise.all([...members].map((target) => target.close()));
    },
  };

  /**
   * @param {string} lastEventId
   * @param {boolean} replayAll
   * @returns {ServerSentEvent[] | undefined} `undefined` when the id is not one we can resume.
   */
  function since(lastEventId, replayAll) {
    if (lastEventId === "") return replayAll ? history.slice() : [];
    const match = /^([0-9a-z]+)-([0-9]+)$/.exec(lastEventId);
    if (match === null || match[1] !== epoch) return undefined;
    const seen = Number(match[2]);
    if (seen > lastId) return undefined;
    const first = lastId - history.length + 1;
    // The history starts after the client's id: something in between is gone.
    if (seen + 1 < first) return undefined;
    return history.slice(seen + 1 - first);
  }
}
