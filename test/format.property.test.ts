import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { events as eventAccess } from "../src/_internal/access.ts";
import { ServerSentEvent, sendEvents } from "../src/index.ts";
import { parse, parseWithClient } from "./helpers/stream.ts";

// Well-formed Unicode text, line breaks of every kind included. (Lone surrogates cannot be sent as
// UTF-8 at all: TextEncoder turns them into U+FFFD, as documented.)
const text = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: fc.constantFrom("a", " ", "\r", "\n", "\r\n", ":", "é", "🎉", "\0") }),
);
const eventType = text.filter((t) => t !== "" && !/[\r\n]/.test(t));
const id = fc.oneof(
  text.filter((t) => !/[\r\n\0]/.test(t)),
  fc.integer({ min: -1e9, max: 1e9 }),
);
const json = fc.jsonValue();

/** What a client reads back: every kind of line break arrives as "\n". */
const lines = (value: string) => value.replace(/\r\n|\r|\n/g, "\n");

/** Cuts bytes into random pieces, as a network would. */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of sorted) {
    out.push(bytes.subarray(start, point));
    start = point;
  }
  out.push(bytes.subarray(start));
  return out;
}

describe("format (property)", () => {
  test("format round-trips any event through eventsource-parser, whole or cut into random chunks", () => {
    fc.assert(
      fc.property(
        eventType,
        fc.oneof(text, json),
        fc.option(id, { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (type, data, eventId, points) => {
          const event = new ServerSentEvent(
            type,
            data,
            eventId === undefined ? {} : { id: eventId },
          );
          const expectedData = lines(typeof data === "string" ? data : JSON.stringify(data));
          const bytes = eventAccess.frame(event);
          for (const chunks of [[bytes], cut(bytes, points)]) {
            const { events } = parse(chunks);
            // sendevents/client's parser reads the same bytes, cut the same way, the same.
            expect(parseWithClient(chunks)).toEqual(parse(chunks));
            expect(events).toHaveLength(1);
            const [parsed] = events;
            expect(parsed!.data).toBe(expectedData);
            expect(parsed!.event).toBe(type === "message" ? undefined : type);
            expect(parsed!.id).toBe(eventId === undefined ? undefined : String(eventId));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("format never lets a hostile type, id or retry through: it throws or round-trips", () => {
    fc.assert(
      fc.property(text, text, fc.oneof(fc.integer(), fc.double()), (type, eventId, retry) => {
        let event: ServerSentEvent;
        try {
          event = new ServerSentEvent(type, "x", { id: eventId, retry });
        } catch (error) {
          expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
          return;
        }
        const { events, retries } = parse([eventAccess.frame(event)]);
        expect(parseWithClient([eventAccess.frame(event)])).toEqual({
          events,
          retries,
          comments: [],
        });
        expect(events).toHaveLength(1);
        expect(events[0]!.id).toBe(eventId);
        expect(retries).toEqual([retry + 0]); // "retry: 0" for -0 too
      }),
      { numRuns: 500 },
    );
  });

  test("ServerSentEventTarget streams any sequence of messages and comments that parse back exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.record({ message: fc.oneof(text, json) }), fc.record({ comment: text })),
          {
            maxLength: 20,
          },
        ),
        async (items) => {
          const { response, target } = sendEvents(new Request("http://localhost/"), {
            keepAlive: false,
          });
          for (const item of items) {
            if ("message" in item) target.dispatchMessage(item.message);
            else target.dispatchComment(item.comment);
          }
          void target.close();
          const text = await response.text();
          const { events, comments } = parse(text);
          expect(parseWithClient(text)).toEqual(parse(text));
          const messages = items.filter((i) => "message" in i).map((i) => i.message);
          expect(events.map((e) => e.data)).toEqual(
            messages.map((m) => lines(typeof m === "string" ? m : JSON.stringify(m))),
          );
          // The opening comment is empty; then every line of every comment, one by one.
          const sent = items.flatMap((i) => ("comment" in i ? i.comment.split(/\r\n|\r|\n/) : []));
          expect(comments).toEqual(["", ...sent]);
        },
      ),
      { numRuns: 200 },
    );
  });
});
