import fc from "fast-check";
import { expect, test } from "vitest";
import { Link, LinkedList } from "../src/_internal/linked-list.ts";

class Item extends Link {
  constructor(readonly id: number) {
    super();
  }
}

const ids = (list: LinkedList<Item>): number[] => list.toArray().map((item) => item.id);

test("linked list: add and delete keep order and size; a deleted link holds no pointers", () => {
  const list = new LinkedList<Item>();
  const items = [0, 1, 2, 3].map((id) => new Item(id));
  for (const item of items) list.add(item);
  list.add(items[1]!); // already in: stays where it is
  expect(ids(list)).toEqual([0, 1, 2, 3]);
  expect(list.delete(items[1]!)).toBe(true);
  expect(list.delete(items[1]!)).toBe(false);
  expect(list.delete(items[0]!)).toBe(true);
  expect(list.delete(items[3]!)).toBe(true);
  expect(ids(list)).toEqual([2]);
  expect(list.size).toBe(1);
  for (const item of [items[0]!, items[1]!, items[3]!]) {
    expect([item.prev, item.next, item.list]).toEqual([undefined, undefined, undefined]);
  }
  // A link belongs to one list at a time.
  const other = new LinkedList<Item>();
  expect(other.delete(items[2]!)).toBe(false);
  other.add(items[2]!);
  expect(other.size).toBe(0);
});

test("linked list: forEach skips links deleted during the walk and visits links added", () => {
  const list = new LinkedList<Item>();
  const items = Array.from({ length: 6 }, (_, id) => new Item(id));
  for (const item of items) list.add(item);
  const seen: number[] = [];
  const late = new Item(99);
  list.forEach((item) => {
    seen.push(item.id);
    if (item.id === 0) list.delete(items[1]!); // the next one
    if (item.id === 2) list.delete(item); // itself
    if (item.id === 3) {
      list.delete(items[5]!);
      list.add(late);
    }
  });
  expect(seen).toEqual([0, 2, 3, 4, 99]);
  expect(ids(list)).toEqual([0, 3, 4, 99]);
});

test("linked list: a forEach started inside another walks a snapshot, without upsetting the outer walk", () => {
  const list = new LinkedList<Item>();
  const items = Array.from({ length: 4 }, (_, id) => new Item(id));
  for (const item of items) list.add(item);
  const outer: number[] = [];
  const inner: number[][] = [];
  list.forEach((item) => {
    outer.push(item.id);
    if (item.id === 1) {
      const seen: number[] = [];
      list.forEach((other) => {
        seen.push(other.id);
        if (other.id === 2) list.delete(items[3]!); // gone before either walk reaches it
      });
      inner.push(seen);
    }
  });
  expect(outer).toEqual([0, 1, 2]);
  expect(inner).toEqual([[0, 1, 2]]);
});

test("linked list: any sequence of adds and deletes matches a Set", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(9)), { maxLength: 60 }), (ops) => {
      const items = Array.from({ length: 10 }, (_, id) => new Item(id));
      const list = new LinkedList<Item>();
      const model = new Set<number>();
      for (const [add, id] of ops) {
        if (add) {
          list.add(items[id]!);
          model.add(id);
        } else expect(list.delete(items[id]!)).toBe(model.delete(id));
      }
      expect(ids(list)).toEqual([...model]);
      expect(list.size).toBe(model.size);
    }),
  );
});
