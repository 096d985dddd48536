import { describe, expect, test } from "vitest";
import { describe as describeValue } from "../src/_internal/describe.ts";
import {
  assertEventType,
  assertRetry,
  formatComment,
  formatEvent,
  formatRetry,
  normalizeId,
  serializeData,
} from "../src/_internal/format.ts";

describe("format", () => {
  test("formatEvent writes a data-only message without an event line", () => {
    expect(formatEvent({ type: "message", data: "hello" })).toBe("data: hello\n\n");
  });

  test("formatEvent writes event, id, retry and data in order with one space after each colon", () => {
    expect(formatEvent({ type: "ping", data: "x", id: "7", retry: 3000 })).toBe(
      "event: ping\nid: 7\nretry: 3000\ndata: x\n\n",
    );
  });

  test("formatEvent keeps a leading space of the data (the separator space is eaten by clients)", () => {
    expect(formatEvent({ type: "message", data: " padded" })).toBe("data:  padded\n\n");
  });

  test("formatEvent splits data on CR, LF and CRLF", () => {
    expect(formatEvent({ type: "message", data: "a\nb\rc\r\nd" })).toBe(
      "data: a\ndata: b\ndata: c\ndata: d\n\n",
    );
  });

  test("formatEvent writes empty data as one empty data line", () => {
    expect(formatEvent({ type: "message", data: "" })).toBe("data: \n\n");
  });

  test("formatEvent keeps a trailing newline as a last empty data line", () => {
    expect(formatEvent({ type: "message", data: "a\n" })).toBe("data: a\ndata: \n\n");
  });

  test("formatEvent treats a lone CR as a line break", () => {
    expect(formatEvent({ type: "message", data: "\r" })).toBe("data: \ndata: \n\n");
  });

  test("formatEvent writes id 0, empty id and retry 0", () => {
    expect(formatEvent({ type: "message", data: "", id: "0", retry: 0 })).toBe(
      "id: 0\nretry: 0\ndata: \n\n",
    );
    expect(formatEvent({ type: "message", data: "", id: "" })).toBe("id: \ndata: \n\n");
  });

  test("formatEvent passes non-ASCII text through", () => {
    expect(formatEvent({ type: "grüße", data: "日本語 🎉" })).toBe(
      "event: grüße\ndata: 日本語 🎉\n\n",
    );
  });

  test("formatEvent matches the WHATWG spec's stock example", () => {
    // HTML §9.2.6: "data: YHOO\ndata: +2\ndata: 10" is one event whose data is "YHOO\n+2\n10".
    expect(formatEvent({ type: "message", data: "YHOO\n+2\n10" })).toBe(
      "data: YHOO\ndata: +2\ndata: 10\n\n",
    );
  });

  test("formatComment prefixes every line with a colon", () => {
    expect(formatComment("debug text")).toBe(": debug text\n\n");
    expect(formatComment("a\r\nb\rc\nd")).toBe(": a\n: b\n: c\n: d\n\n");
    expect(formatComment("")).toBe(": \n\n");
  });

  test("formatRetry writes a lone retry field", () => {
    expect(formatRetry(0)).toBe("retry: 0\n\n");
  });

  test("assertEventType rejects CR, LF and the empty type with a TypeError naming the value", () => {
    expect(() => assertEventType("a\nb", "Cannot create event")).toThrow(
      new TypeError(
        'Cannot create event: the event type must not contain CR or LF, received "a\\nb"',
      ),
    );
    expect(() => assertEventType("a\rb", "x")).toThrow(TypeError);
    expect(() => assertEventType("", "x")).toThrow(TypeError);
    expect(() => assertEventType(42, "x")).toThrow(TypeError);
    expect(() => assertEventType("fine: yes", "x")).not.toThrow();
  });

  test("normalizeId accepts strings and finite numbers, 0 included", () => {
    expect(normalizeId(0, "x")).toBe("0");
    expect(normalizeId(-1.5, "x")).toBe("-1.5");
    expect(normalizeId("", "x")).toBe("");
    expect(normalizeId("a b", "x")).toBe("a b");
  });

  test("normalizeId rejects CR, LF and NUL with a TypeError, non-finite numbers with a RangeError", () => {
    for (const bad of ["a\nb", "a\rb", "a\0b"])
      expect(() => normalizeId(bad, "x")).toThrow(TypeError);
    expect(() => normalizeId(Number.NaN, "x")).toThrow(RangeError);
    expect(() => normalizeId(Number.POSITIVE_INFINITY, "x")).toThrow(RangeError);
    expect(() => normalizeId({}, "x")).toThrow(TypeError);
  });

  test("assertRetry accepts integers from 0 to 2**31 - 1 only (what a client's timer can wait)", () => {
    expect(() => assertRetry(0, "x")).not.toThrow();
    expect(() => assertRetry(2 ** 31 - 1, "x")).not.toThrow();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 31, Number.MAX_SAFE_INTEGER, "10", null]) {
      expect(() => assertRetry(bad, "x")).toThrow(RangeError);
    }
    expect(() => assertRetry(-1, "Cannot create event")).toThrow(
      'Cannot create event: "retry" must be an integer from 0 to 2147483647, received -1',
    );
  });

  test("serializeData passes strings through and JSON-encodes the rest", () => {
    expect(serializeData("x\ny", "a")).toBe("x\ny");
    expect(serializeData({ a: 1 }, "a")).toBe('{"a":1}');
    expect(serializeData(null, "a")).toBe("null");
    expect(serializeData(0, "a")).toBe("0");
    expect(serializeData({ a: 1, b: 2 }, "a", ["a"])).toBe('{"a":1}');
    expect(serializeData({ a: 1 }, "a", null, 2)).toBe('{\n  "a": 1\n}');
  });

  test("serializeData throws a TypeError for undefined, functions, cycles, BigInt and throwing toJSON", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const throwing = {
      toJSON() {
        throw new Error("nope");
      },
    };
    for (const bad of [undefined, () => 1, Symbol("s"), cyclic, 10n, throwing]) {
      expect(() => serializeData(bad, "Cannot send")).toThrow(TypeError);
    }
    expect(() => serializeData(10n, "Cannot send")).toThrow(
      /Cannot send: data 10n cannot be serialised as JSON/,
    );
  });

  test("describe shortens long values for error messages", () => {
    expect(describeValue("x".repeat(1000)).length).toBeLessThanOrEqual(60);
  });
});
