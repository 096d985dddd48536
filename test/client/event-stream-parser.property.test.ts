// The client's parser against an independent one (eventsource-parser), byte for byte: the same
// bytes, cut at the same random points, must give the same events, retries and comments.
import { createParser } from "eventsource-parser";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { events as eventAccess } from "../../src/_internal/access.ts";
import { createEventStreamParser } from "../../src/client/event-stream-parser.ts";
import { readEvents } from "../../src/client/index.ts";
import { ServerSentEvent, sendEvents } from "../../src/index.ts";
import "../../src/server-sent-event.ts";

const ENCODER = new TextEncoder();

/** Text of the kinds that matter to a parser: spaces, colons, digits, NUL, BOM, non-ASCII. */
const value = fc.string({
  unit: fc.constantFrom("a", "Z", " ", ":", "0", "7", "\0", "é", "🎉", "\uFEFF", "\t"),
  maxLength: 12,
});
const fieldName = fc.constantFrom("data", "event", "id", "retry", "dat", "data ", "ID", "x", "");
const line = fc.oneof(
  // A field, with or without a colon, with or without the one space that is dropped.
  fc
    .tuple(fieldName, fc.constantFrom("", ":", ": ", ":  "), value)
    .map(([name, colon, text]) => name + colon + (colon === "" ? "" : text)),
  fc.constantFrom("retry: 10", "retry:3000", "retry: 1a", "retry:", "retry: -1", "id:\0"),
  value.map((text) => `:${text}`),
  fc.constant(""),
  fc.constant(""),
);
const lineEnd = fc.constantFrom("\n", "\r", "\r\n");
const stream = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.tuple(line, lineEnd), { maxLength: 30 }),
    fc.constantFrom("", "\n", "\r", "data: cut off"),
  )
  .map(
    ([bom, lines, tail]) =>
      (bom ? "\uFEFF" : "") +
      lines.map(([text, end]) => text.replace(/[\r\n]/g, "") + end).join("") +
      tail,
  );

/** Cuts bytes into random pieces, as a network would (inside a UTF-8 sequence or a CRLF too). */
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

function toStream(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

interface Reading {
  events: { type: string; data: string; id: string | undefined }[];
  retries: number[];
  comments: string[];
}

/**
 * eventsource-parser, fed what one streaming TextDecoder makes of the chunks.
 *
 * One difference, where the standard is on our side: eventsource-parser holds a CR at the end of
 * what it was fed until the next character shows whether an LF follows, so a stream that ends in
 * CR never ends its last line. A CR alone is a whole line end (WHATWG HTML §9.2.5), and Chromium
 * dispatches at once. For the comparison the reference is given the LF it waits for, which makes
 * the CR a CRLF: the same single line end.
 */
function reference(chunks: Uint8Array[]): Reading {
  const reading: Reading = { events: [], retries: [], comments: [] };
  const parser = createParser({
    onEvent: (event) =>
      reading.events.push({ type: event.event ?? "message", data: event.data, id: event.id }),
    onRetry: (retry) => reading.retries.push(retry),
    onComment: (comment) => reading.comments.push(comment),
  });
  const decoder = new TextDecoder();
  let last = "";
  for (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== "") last = text;
    parser.feed(text);
  }
  parser.feed(decoder.decode());
  if (last.endsWith("\r")) parser.feed("\n");
  return reading;
}

/** Ours, the same way. */
function ours(chunks: Uint8Array[]): Reading {
  const reading: Reading = { events: [], retries: [], comments: [] };
  const parser = createEventStreamParser(
    (type, data, id) => reading.events.push({ type, data, id }),
    {
      onRetry: (retry) => reading.retries.push(retry),
      onComment: (comment) => reading.comments.push(comment),
    },
  );
  const decoder = new TextDecoder();
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }));
  parser.feed(decoder.decode());
  parser.end();
  return reading;
}

async function throughReadEvents(chunks: Uint8Array[]): Promise<Reading["events"]> {
  const events: Reading["events"] = [];
  for await (const { type, data, id } of readEvents(toStream(chunks))) {
    events.push({ type, data, id });
  }
  return events;
}

describe("EventStreamParser (property)", () => {
  test("EventStreamParser reads any byte stream as eventsource-parser does, whole or cut into random chunks", async () => {
    await fc.assert(
      fc.asyncProperty(stream, fc.array(fc.nat(), { maxLength: 12 }), async (text, points) => {
        const bytes = ENCODER.encode(text);
        // The reference reads the whole stream at once: cut into pieces, eventsource-parser too
        // holds a line that ends in CR until a later piece has a line break of its own.
        const expected = reference([bytes]);
        for (const chunks of [
          [bytes],
          cut(bytes, points),
          cut(bytes, [...Array(bytes.length).keys()]),
        ]) {
          expect(ours(chunks)).toEqual(expected);
          expect(await throughReadEvents(chunks)).toEqual(expected.events);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test("readEvents reads back any event the server's encoder writes, cut into random chunks", async () => {
    const text = fc.oneof(
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: fc.constantFrom("a", " ", "\r", "\n", "\r\n", ":", "é", "🎉", "\0") }),
    );
    const eventType = text.filter((t) => t !== "" && !/[\r\n]/.test(t));
    const id = fc.oneof(
      text.filter((t) => !/[\r\n\0]/.test(t)),
      fc.integer({ min: -1e9, max: 1e9 }),
    );
    await fc.assert(
      fc.asyncProperty(
        eventType,
        fc.oneof(text, fc.jsonValue()),
        fc.option(id, { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (type, data, eventId, retry, points) => {
          const init = {
            ...(eventId === undefined ? {} : { id: eventId }),
            ...(retry === undefined ? {} : { retry }),
          };
          const bytes = eventAccess.frame(new ServerSentEvent(type, data, init));
          const sent = (typeof data === "string" ? data : JSON.stringify(data)).replace(
            /\r\n|\r|\n/g,
            "\n",
          );
          for (const chunks of [[bytes], cut(bytes, points)]) {
            const events = [];
            for await (const event of readEvents(toStream(chunks))) events.push(event);
            expect(events).toEqual([
              {
                type,
                data: sent,
                id: eventId === undefined ? undefined : String(eventId),
                lastEventId: eventId === undefined ? "" : String(eventId),
                retry,
              },
            ]);
            expect(events.map(({ type, data, id }) => ({ type, data, id }))).toEqual(
              reference(chunks).events,
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("readEvents reads back any sequence a ServerSentEventTarget streams, with JSON parsed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ json: fc.jsonValue().filter((v) => typeof v !== "string") }),
            fc.record({ comment: fc.string() }),
          ),
          {
            maxLength: 20,
          },
        ),
        async (items) => {
          const { response, target } = sendEvents<{ message: unknown }>(
            new Request("http://localhost/"),
            { keepAlive: false },
          );
          for (const item of items) {
            if ("json" in item) target.dispatchMessage(item.json);
            else target.dispatchComment(item.comment);
          }
          void target.close();
          const data = [];
          for await (const event of readEvents<{ message: unknown }>(response, {
            parse: { message: "json" },
          })) {
            data.push(event.data);
          }
          // JSON.parse(JSON.stringify(x)) is x, but for -0, which JSON writes as 0.
          expect(data).toEqual(
            items.flatMap((i) => ("json" in i ? [JSON.parse(JSON.stringify(i.json))] : [])),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
