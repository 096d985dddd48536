import { describe, expect, test } from "vitest";
import { readLastEventId } from "../src/index.ts";

/** Headers as a runtime builds them from wire bytes: one character per byte. */
function fromBytes(bytes: number[]): Headers {
  return new Headers({ "last-event-id": String.fromCharCode(...bytes) });
}

describe("readLastEventId", () => {
  test("readLastEventId reads a plain id and an absent one", () => {
    expect(readLastEventId(new Headers({ "Last-Event-ID": "42" }))).toBe("42");
    expect(readLastEventId(new Headers())).toBe("");
  });

  test("readLastEventId decodes the UTF-8 bytes a browser sends", () => {
    expect(readLastEventId(fromBytes([...new TextEncoder().encode("é 🎉")]))).toBe("é 🎉");
  });

  test("readLastEventId keeps bytes that are not UTF-8 as Latin-1 characters", () => {
    expect(readLastEventId(fromBytes([0xe9, 0x20, 0x31]))).toBe("é 1");
    expect(readLastEventId(fromBytes([0xff, 0xfe]))).toBe("\u00ff\u00fe");
  });

  test("readLastEventId reads ids over 1024 characters as empty", () => {
    expect(readLastEventId(new Headers({ "last-event-id": "a".repeat(1024) }))).toHaveLength(1024);
    expect(readLastEventId(new Headers({ "last-event-id": "a".repeat(1025) }))).toBe("");
    expect(readLastEventId(new Headers({ "last-event-id": "a".repeat(1024 * 1024) }))).toBe("");
  });

  test("readLastEventId reads ids with NUL, CR or LF as empty", () => {
    // Fetch's Headers refuses these bytes, but a runtime's own header object may not.
    for (const raw of ["1\u00002", "1\r2", "1\n2"]) {
      const headers = { get: (name: string) => (name === "last-event-id" ? raw : null) };
      expect(readLastEventId(headers as unknown as Headers)).toBe("");
    }
  });
});
