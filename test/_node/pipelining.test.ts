import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { MAX_PIPELINED, whenCurrent } from "../../adapters/_node/pipelining.ts";
import { RawConnection } from "../helpers/raw-http.ts";

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server whose listener starts each response through `whenCurrent`, logging the order. */
async function start(log: string[], hold: Map<string, http.ServerResponse>): Promise<number> {
  server = http.createServer((req, res) => {
    log.push(`request ${req.url}`);
    whenCurrent(req, res, () => {
      log.push(`start ${req.url}`);
      if (req.url === "/held") hold.set(req.url, res);
      else res.end(req.url);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** Resolves once `check()` holds, polling; fails after 5 s. */
async function waitFor(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 5000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;

describe("adapters/_node/pipelining", () => {
  test("starts a pipelined response only once the one before it has ended", async () => {
    const log: string[] = [];
    const held = new Map<string, http.ServerResponse>();
    const port = await start(log, held);
    const client = new RawConnection(port, get("/held") + get("/a") + get("/b"));
    await waitFor(() => log.includes("request /b") && held.has("/held"));
    // Node has parsed all three; only the first may run while it is being sent.
    expect(log).toEqual(["request /held", "start /held", "request /a", "request /b"]);
    held.get("/held")!.end("held");
    await client.until((text) => text.includes("/b"));
    expect(log.slice(4)).toEqual(["start /a", "start /b"]);
    client.destroy();
  });

  test("never starts a queued response whose connection ends first", async () => {
    const log: string[] = [];
    const held = new Map<string, http.ServerResponse>();
    const port = await start(log, held);
    const client = new RawConnection(port, get("/held") + get("/queued"));
    await waitFor(() => log.includes("request /queued"));
    client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(log).not.toContain("start /queued");
  });

  test(`destroys a connection that queues more than ${MAX_PIPELINED} behind the one being sent`, async () => {
    const log: string[] = [];
    const held = new Map<string, http.ServerResponse>();
    const port = await start(log, held);
    const requests = [get("/held")];
    for (let i = 0; i <= MAX_PIPELINED; i++) requests.push(get(`/q${i}`));
    const client = new RawConnection(port, requests.join(""));
    expect(await client.closesWithin(5000)).toBe(true);
    expect(log.filter((line) => line.startsWith("start /q"))).toEqual([]);
  });
});
