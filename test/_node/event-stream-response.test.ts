import { describe, expect, test } from "vitest";
import { directStream, EventStreamResponse } from "../../adapters/_node/event-stream-response.ts";
import { CONSTRUCT, streamOf, type TargetConstructor } from "../../src/_internal/access.ts";
import { targetOf } from "../../src/_internal/response-target.ts";
import { ServerSentEventTarget } from "../../src/index.ts";

function make(use: "keep-alive" | "close" | "http2" = "keep-alive") {
  // A target with no sink yet, as the adapter's requests get.
  const target = new (ServerSentEventTarget as unknown as TargetConstructor)(CONSTRUCT, {
    lastEventId: "",
    keepAlive: false,
  });
  const response = new EventStreamResponse(target, undefined, use);
  return { target, response: response as unknown as Response };
}

describe("adapters/_node/event-stream-response", () => {
  test("tells its target without making a body, so the adapter may still write it directly", () => {
    const { target, response } = make();
    expect(targetOf(response)).toBe(target);
    expect(streamOf(target).attached).toBe(false);
    const direct = directStream(response);
    expect(direct?.target).toBe(target);
    // Taken once: a second look finds nothing to take, and the body cannot be read any more.
    expect(directStream(response)).toBeUndefined();
    expect(() => response.body).toThrow(TypeError);
    void target.close();
  });

  test("once its body is read it is a plain streaming response, and is no longer direct", async () => {
    const { target, response } = make();
    target.dispatchMessage("hi");
    void target.close();
    expect(await response.text()).toBe(":\n\ndata: hi\n\n");
    expect(directStream(response)).toBeUndefined();
    expect(targetOf(response)).toBe(target);
  });

  test("its default headers are the stream's for the connection's use", () => {
    expect(make("keep-alive").response.headers.get("connection")).toBe("Keep-Alive");
    expect(make("close").response.headers.has("connection")).toBe(false);
    const h2 = make("http2").response.headers;
    expect([h2.has("connection"), h2.has("keep-alive"), h2.get("content-type")]).toEqual([
      false,
      false,
      "text/event-stream",
    ]);
  });

  test("reads as a Response: status, ok, instanceof, and a copy made with new Response", async () => {
    const { target, response } = make();
    expect([response.status, response.ok, response instanceof Response]).toEqual([200, true, true]);
    void target.close();
    const copy = new Response(response.body, response);
    expect(copy.headers.get("content-type")).toBe("text/event-stream");
    expect(await copy.text()).toBe(":\n\n");
  });
});
