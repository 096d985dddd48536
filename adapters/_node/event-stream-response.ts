/**
 * The `Response` that `sendEvents` returns for a request of the Node adapter. It holds the target
 * rather than a body stream: if the handler returns it as it is, the adapter writes the target
 * straight to the socket; if anything reads its body or wraps it in another `Response`, a real
 * body stream is made on first use and it behaves as any `Response`.
 *
 * @module
 */

import { streamOf } from "../../src/_internal/access.ts";
import { readableFor } from "../../src/_internal/body-source.ts";
import { bindTarget } from "../../src/_internal/response-target.ts";
import { type ConnectionUse, streamHeaders } from "../../src/_internal/stream-headers.ts";
import type { ServerSentEventTarget } from "../../src/server-sent-event-target.ts";
import { inheritLazily } from "./lazy-prototype.ts";

let realOf: (response: EventStreamResponse) => Response;
let takeDirect: (
  response: EventStreamResponse,
) => { target: ServerSentEventTarget; headers: Headers | undefined } | undefined;

/**
 * The target and headers of an event-stream response the adapter may write directly: one that
 * `sendEvents` made for this adapter and whose body nobody has read. Returns each one only once.
 */
export function directStream(
  response: Response,
): { target: ServerSentEventTarget; headers: Headers | undefined } | undefined {
  return response instanceof EventStreamResponse ? takeDirect(response) : undefined;
}

/** A `200` event-stream `Response` whose body is made only if someone asks for it. */
export class EventStreamResponse {
  readonly #target: ServerSentEventTarget;
  #headers: Headers | undefined;
  readonly #use: ConnectionUse;
  #body: ReadableStream<Uint8Array> | undefined;
  #real: Response | undefined;
  #taken = false;

  static {
    realOf = (response) => response.#realResponse();
    takeDirect = (response) => {
      if (response.#taken || response.#body !== undefined) return undefined;
      response.#taken = true;
      return { target: response.#target, headers: response.#headers };
    };
  }

  constructor(target: ServerSentEventTarget, headers: Headers | undefined, use: ConnectionUse) {
    this.#target = target;
    this.#headers = headers;
    this.#use = use;
    // Adapters ask which target feeds a response: answered without making the body.
    bindTarget(this, target);
  }

  get status(): number {
    return 200;
  }

  get statusText(): string {
    return "";
  }

  get ok(): boolean {
    return true;
  }

  get headers(): Headers {
    this.#headers ??= streamHeaders(undefined, this.#use);
    return this.#headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) {
      if (this.#taken) throw new TypeError("Cannot read the body: the adapter is sending it");
      const body = readableFor(streamOf(this.#target));
      bindTarget(body, this.#target);
      this.#body = body;
    }
    return this.#body;
  }

  #realResponse(): Response {
    this.#real ??= new Response(this.body, { status: 200, headers: this.headers });
    return this.#real;
  }
}

// The rest of Response (bodyUsed, text(), clone(), type, url, ...) comes from a real one.
inheritLazily(EventStreamResponse, Response, (standIn) => realOf(standIn));
