import * as http from "node:http";
import { afterEach, expect, test } from "vitest";
import { type NodeServer, serve } from "../adapters/node.ts";
import { sendEvents } from "../src/index.ts";

let server: NodeServer | undefined;
afterEach(async () => {
  await server?.close();
});

// The keep-alive timer and the connection's send timeout fire in the same timers phase when their
// periods line up: the keep-alive comment is then queued in the target but not yet written when
// the send timeout looks. That is not a stuck client, and the stream must stay open.
test("serve() never cuts an idle stream whose keep-alive lands on the send timeout", async () => {
  server = await serve((request) => sendEvents(request, { keepAlive: 50 }).response, {
    sendTimeout: 50,
  });
  const url = server.url;
  const clients = 20;
  const cut = await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<boolean>((resolve, reject) => {
          const request = http.get(url, { agent: false }, (response) => {
            response.resume();
            const timer = setTimeout(() => {
              response.off("close", onClose);
              request.destroy();
              resolve(false);
            }, 1500);
            const onClose = (): void => {
              clearTimeout(timer);
              resolve(true);
            };
            response.once("close", onClose);
          });
          request.once("error", reject);
        }),
    ),
  );
  expect(cut.filter(Boolean).length).toBe(0);
});
