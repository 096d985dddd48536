/**
 * The groups (`StreamGroup`s, `Channel`s) a stream has joined, each with its entry there, kept on
 * the stream as `[group, entry, group, entry, ...]` rather than in a map of the group's: a
 * long-lived group then holds no table that points at ended streams (see `linked-list.ts`), and a
 * stream's end reaches its groups without a `close` listener each (a stream in many channels would
 * otherwise pass `EventTarget`'s listener warning threshold).
 *
 * @module
 */

/** A stream's entry in a group it joined: told when the stream ends, so the group lets it go. */
export interface Membership {
  /** The stream has ended: leave the group. Called once, before `close` fires. */
  streamEnded(): void;
}

/** A stream's groups and its entries there, in pairs. */
export type Memberships = (object | Membership)[];

/** Records `entry` for `group`; `false` if the stream had joined `group` already. */
export function addMembership(list: Memberships, group: object, entry: Membership): boolean {
  if (indexOf(list, group) !== -1) return false;
  list.push(group, entry);
  return true;
}

/** The entry for `group`, or `undefined` if the stream is not a member. */
export function membershipIn(list: Memberships, group: object): Membership | undefined {
  const at = indexOf(list, group);
  return at === -1 ? undefined : (list[at + 1] as Membership);
}

/** Forgets `group`. */
export function removeMembership(list: Memberships, group: object): void {
  const at = indexOf(list, group);
  if (at !== -1) list.splice(at, 2);
}

/** Tells every group that the stream has ended. */
export function endMemberships(list: Memberships): void {
  for (let i = 1; i < list.length; i += 2) (list[i] as Membership).streamEnded();
}

function indexOf(list: Memberships, group: object): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === group) return i;
  return -1;
}
