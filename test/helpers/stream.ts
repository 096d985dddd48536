import { createParser, type EventSourceMessage } from "eventsource-parser";
import { createEventStreamParser } from "../../src/client/event-stream-parser.ts";

const decoder = new TextDecoder();

/** Reads a response body to its end as text. */
export async function readAll(response: Response): Promise<string> {
  return await response.text();
}

/** Reads chunks from a body until `predicate` holds for the text so far; leaves the stream open. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  predicate: (text: string) => boolean,
  sofar = "",
): Promise<string> {
  let text = sofar;
  while (!predicate(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`Stream ended before the expected text; got ${JSON.stringify(text)}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

/** Parses an event stream with an independent parser (`eventsource-parser`). */
export function parse(text: string | Uint8Array[]): {
  events: EventSourceMessage[];
  retries: number[];
  comments: string[];
} {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onRetry: (retry) => retries.push(retry),
    onComment: (comment) => comments.push(comment),
  });
  if (typeof text === "string") parser.feed(text);
  else {
    const streaming = new TextDecoder();
    for (const chunk of text) parser.feed(streaming.decode(chunk, { stream: true }));
  }
  return { events, retries, comments };
}

/**
 * Parses an event stream with sendevents' own client parser, in the shape {@linkcode parse}
 * gives, so that the two can be compared: the same events, retries and comments.
 */
export function parseWithClient(text: string | Uint8Array[]): ReturnType<typeof parse> {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createEventStreamParser(
    (type, data, id) => events.push({ event: type === "message" ? undefined : type, data, id }),
    { onRetry: (retry) => retries.push(retry), onComment: (comment) => comments.push(comment) },
  );
  if (typeof text === "string") parser.feed(text);
  else {
    const streaming = new TextDecoder();
    for (const chunk of text) parser.feed(streaming.decode(chunk, { stream: true }));
  }
  return { events, retries, comments };
}

/** Resolves on the next `event` of `type` on `target`. */
export function once<T extends Event>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) =>
    target.addEventListener(type, (event) => resolve(event as T), { once: true }),
  );
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
