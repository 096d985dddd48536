// The Node entry, checked in the Node setup of test/package-types.test.ts.
import { sendEvents } from "sendevents";
import { createListener, type NodeServer, serve } from "sendevents/node";

export async function start(): Promise<NodeServer> {
  const server = await serve((request) => sendEvents(request).response, { port: 0 });
  createListener((request) => sendEvents(request).response, { sendTimeout: 5000 });
  await server.shutdown({ retry: 1000, jitter: 1000, deadline: 5000 });
  return server;
}
