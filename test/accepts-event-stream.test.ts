import { describe, expect, test } from "vitest";
import { acceptsEventStream } from "../src/index.ts";

const accepts = (accept?: string) =>
  acceptsEventStream(
    new Request("http://localhost/", accept === undefined ? {} : { headers: { accept } }),
  );

describe("acceptsEventStream", () => {
  test("acceptsEventStream accepts a missing or empty header and */*", () => {
    expect(accepts()).toBe(true);
    expect(accepts("")).toBe(true);
    expect(accepts("*/*")).toBe(true);
  });

  test("acceptsEventStream accepts text/event-stream and text/*, in any case", () => {
    expect(accepts("text/event-stream")).toBe(true);
    expect(accepts("Text/Event-Stream")).toBe(true);
    expect(accepts("text/*")).toBe(true);
    expect(accepts("application/json, text/event-stream;q=0.5")).toBe(true);
  });

  test("acceptsEventStream refuses q=0 and media ranges that do not match", () => {
    expect(accepts("text/event-stream;q=0")).toBe(false);
    expect(accepts("text/event-stream; q=0.000")).toBe(false);
    expect(accepts("application/json")).toBe(false);
    expect(accepts("text/html, application/xhtml+xml")).toBe(false);
  });

  test("acceptsEventStream lets the most specific range decide", () => {
    expect(accepts("*/*, text/event-stream;q=0")).toBe(false);
    expect(accepts("*/*;q=0, text/event-stream")).toBe(true);
    expect(accepts("text/*;q=0, */*")).toBe(false);
    expect(accepts("text/*;q=0, text/event-stream;q=0.1")).toBe(true);
  });

  test("acceptsEventStream ignores malformed ranges and q-values", () => {
    expect(accepts("garbage")).toBe(false);
    expect(accepts("text/event-stream;q=2")).toBe(false);
    expect(accepts("text/event-stream;q=abc, */*;q=0.1")).toBe(true);
    expect(accepts(";;;,,,/,")).toBe(false);
  });

  test("acceptsEventStream reads huge headers in bounded time", () => {
    expect(accepts(`${"application/json;q=0.5, ".repeat(100_000)}text/event-stream`)).toBe(false);
    expect(accepts(`text/event-stream;${"q=0.5;".repeat(100_000)}`)).toBe(true);
  });
});
