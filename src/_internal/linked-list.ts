/**
 * An intrusive doubly linked list, for long-lived collections of short-lived members (every open
 * stream of a keep-alive wheel or a {@linkcode StreamGroup}).
 *
 * Why not a `Set`: V8 rebuilds a `Set`'s table as members come and go, and a discarded table
 * still points at the members it held. Once such a table has been promoted to the old generation,
 * the young-generation collector treats those stale pointers as live, so every connection's
 * objects (target, response, socket, buffers) get promoted in turn and wait for a full collection:
 * under connection churn that tripled the garbage collector's time per connection. A member that
 * leaves this list has its links cleared, so nothing keeps a dead connection reachable.
 *
 * @module
 */

/** A member of a {@linkcode LinkedList}: extend it, or hold the value in a subclass. */
export class Link {
  /** The link before this one. */
  prev: Link | undefined = undefined;
  /** The link after this one. */
  next: Link | undefined = undefined;
  /** The list holding this link, if any. */
  list: LinkedList<Link> | undefined = undefined;
}

/** Links in insertion order, with constant-time `add` and `delete`. */
export class LinkedList<T extends Link> {
  #head: T | undefined;
  #tail: T | undefined;
  #size = 0;
  /** The next link of a running `forEach`, moved on when that link is deleted. */
  #cursor: T | undefined;
  #walking = false;

  /** The number of links. */
  get size(): number {
    return this.#size;
  }

  /** Appends `link`; a link already in a list is left where it is. */
  add(link: T): void {
    if (link.list !== undefined) return;
    link.list = this as unknown as LinkedList<Link>;
    link.prev = this.#tail;
    if (this.#tail === undefined) this.#head = link;
    else this.#tail.next = link;
    this.#tail = link;
    this.#size++;
  }

  /** Removes `link` and clears its pointers. Returns `false` if it was not in this list. */
  delete(link: T): boolean {
    if (link.list !== (this as unknown as LinkedList<Link>)) return false;
    const prev = link.prev as T | undefined;
    const next = link.next as T | undefined;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    if (this.#cursor === link) this.#cursor = next;
    link.prev = undefined;
    link.next = undefined;
    link.list = undefined;
    this.#size--;
    return true;
  }

  /**
   * Calls `callback` for each link in order. Links deleted meanwhile are skipped; links added
   * meanwhile are visited. A `forEach` started from a callback walks a snapshot of the list.
   */
  forEach(callback: (link: T) => void): void {
    if (this.#walking) {
      for (const link of this.toArray()) {
        if (link.list === (this as unknown as LinkedList<Link>)) callback(link);
      }
      return;
    }
    this.#walking = true;
    let link = this.#head;
    try {
      while (link !== undefined) {
        this.#cursor = link.next as T | undefined;
        callback(link);
        link = this.#cursor;
      }
    } finally {
      this.#cursor = undefined;
      this.#walking = false;
    }
  }

  /** The links, in order, as an array (a snapshot: later changes do not affect it). */
  toArray(): T[] {
    const out: T[] = [];
    for (let link = this.#head; link !== undefined; link = link.next as T | undefined) {
      out.push(link);
    }
    return out;
  }
}
