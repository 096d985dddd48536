/**
 * The Redis store's event ids, `<epoch>:<sequence>`: reading one, the epochs a store proposes to
 * Redis, and the event made from a stored entry.
 *
 * @module
 */
import { ServerSentEvent } from "../../src/server-sent-event.ts";

const ID = /^([A-Za-z0-9_-]{1,64}):(0|[1-9][0-9]{0,15})$/;

/** An id's parts. */
export interface ParsedId {
  epoch: string;
  sequence: number;
}

/** `value`'s epoch and sequence, or `undefined` if it is not an id of a Redis event store. */
export function parseId(value: unknown): ParsedId | undefined {
  const match = typeof value === "string" ? ID.exec(value) : null;
  return match === null ? undefined : { epoch: match[1]!, sequence: Number(match[2]) };
}

/**
 * A source of epoch candidates: each call gives one never given before, from a random prefix per
 * store and a counter, so a Redis that lost the channel never gets an epoch it had before.
 */
export function epochSource(): () => string {
  const prefix = randomEpoch();
  let count = 0;
  return () => prefix + (count++).toString(36);
}

function randomEpoch(): string {
  const bytes = new Uint8Array(6);
  // Node 18 has no global `crypto` (Node 19 has): fall back to Math.random, enough for an epoch,
  // which must only differ from the channel's earlier ones.
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let epoch = "";
  for (const byte of bytes) epoch += byte.toString(36).padStart(2, "0");
  return epoch;
}

/** The event a stored entry (or a notification) stands for; `retry` is `""` for none. */
export function toEvent(
  epoch: string,
  sequence: string,
  type: string,
  data: string,
  retry: string,
): ServerSentEvent {
  return new ServerSentEvent(type, data, {
    id: `${epoch}:${sequence}`,
    ...(retry === "" ? {} : { retry: Number(retry) }),
  });
}
