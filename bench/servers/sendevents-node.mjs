// sendevents through its Node adapter (sendevents/node).
import { serve } from "../../dist/adapters/node.js";
import { announce } from "../shared.mjs";
import { handler } from "./sendevents-app.mjs";

const server = await serve(handler, { port: Number(process.env.PORT ?? 0) });
announce(server.port);
