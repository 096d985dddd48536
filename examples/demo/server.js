/**
 * The sendevents demo: `npm start`, then open the URL it prints.
 *
 * One Node server, only the package's public API, no external service:
 * - `GET /clock`: a tick every second, each with an id; `POST /clock/drop?client=…` ends that
 *   client's stream from the server, and the browser reconnects with `Last-Event-ID` and gets the
 *   ticks it missed;
 * - `GET /room` and `POST /room`: a broadcast room, every open tab gets every message;
 * - `POST /jobs` and `GET /jobs/:id`: a job's progress, ending with a `done` event and
 *   `target.close()`. A reconnect to a finished job is answered `204`, which tells `EventSource`
 *   to stop for good.
 *
 * Set `PORT` to change the port (default 8765; `PORT=0` picks a free one).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { acceptsEventStream, ServerSentEvent, sendEvents } from "sendevents";
import { serve } from "sendevents/node";
import { createTopic } from "./topic.js";

const DEFAULT_PORT = 8765;
/** How long a client waits before it reconnects (the `retry:` field), in milliseconds. */
const RETRY = 1000;
/** The reconnection time a dropped clock client is given: long enough to miss a tick or two. */
const DROP_RETRY = 2500;
const TICK_INTERVAL = 1000;
const JOB_STEPS = 20;
const JOB_STEP_INTERVAL = 150;
const MAX_JOBS = 100;
const MAX_MESSAGE_LENGTH = 500;
const MAX_NAME_LENGTH = 40;
const MAX_BODY_BYTES = 4096;

const STATIC = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

const port = readPort(process.env.PORT);

// --- The clock: one ticker for everybody, so a client that drops misses real ticks. ---------

const clock = createTopic({ limit: 120 });
/** Each page's clock stream, by the `client` it names, so that the page can ask for a drop. */
const clockTargets = new Map();
let ticks = 0;
const ticker = setInterval(() => {
  ticks++;
  clock.publish("tick", { n: ticks, now: new Date().toISOString() });
}, TICK_INTERVAL);

/** @param {Request} request */
function clockStream(request) {
  const client = new URL(request.url).searchParams.get("client") ?? "";
  const { response, target } = sendEvents(request);
  target.dispatchComment("ticks every second; ids resume with Last-Event-ID");
  const lastEventId = target.lastEventId;
  // `retry` first, so even the replayed events arrive with the short reconnection time set.
  target.dispatchEvent(new ServerSentEvent("hello", { lastEventId }, { retry: RETRY }));
  const replayed = clock.join(target);
  target.dispatchEvent(new ServerSentEvent("replayed", { count: replayed, lastEventId }));
  if (client !== "") {
    const set = clockTargets.get(client) ?? new Set();
    clockTargets.set(client, set);
    set.add(target);
    target.addEventListener("close", () => {
      set.delete(target);
      if (set.size === 0) clockTargets.delete(client);
    });
  }
  return response;
}

/** @param {Request} request */
async function dropClock(request) {
  const client = new URL(request.url).searchParams.get("client") ?? "";
  const targets = clockTargets.get(client);
  if (targets === undefined) return text(404, "No clock stream for that client\n");
  // Reconnect a little later than usual, so the client misses ticks and resume has work to do.
  const notice = new ServerSentEvent("drop", { retry: DROP_RETRY }, { retry: DROP_RETRY });
  // Then a server-side end of the stream, as a restart or a proxy timeout would look.
  await Promise.all(
    [...targets].map((target) => {
      target.dispatchEvent(notice);
      return target.close();
    }),
  );
  return new Response(null, { status: 204 });
}

// --- The room: a message posted by one tab reaches every tab. --------------------------------

const room = createTopic({ limit: 50 });

/** @param {Request} request */
function roomStream(request) {
  const { response, target } = sendEvents(request);
  target.dispatchEvent(new ServerSentEvent("hello", {}, { retry: RETRY }));
  // A new tab sees the recent messages; a reconnecting one only what it missed.
  room.join(target, { replayAll: true });
  target.addEventListener("close", announcePresence);
  announcePresence();
  return response;
}

function announcePresence() {
  // No id and no history: presence is not part of the conversation, and an event without an id
  // leaves the client's Last-Event-ID alone.
  room.send(new ServerSentEvent("presence", { tabs: room.size }));
}

/** @param {Request} request */
async function postToRoom(request) {
  const body = await readForm(request);
  if (body === undefined) return text(413, "Message too large\n");
  const message = (body.get("text") ?? "").trim();
  const name = (body.get("name") ?? "").trim() || "anonymous";
  if (message === "") return text(400, "Empty message\n");
  if (message.length > MAX_MESSAGE_LENGTH || name.length > MAX_NAME_LENGTH) {
    return text(413, "Message too long\n");
  }
  const event = room.publish("chat", { name, text: message, at: new Date().toISOString() });
  // A form posted without JavaScript goes back to the page; fetch() gets the event's id.
  if (!request.headers.get("accept")?.includes("application/json")) {
    return new Response(null, { status: 303, headers: { location: "/" } });
  }
  return Response.json({ id: event.id }, { status: 201 });
}

// --- Jobs: a finite stream that ends with a terminal event and a server close. ---------------

/** @type {Map<string, { topic: ReturnType<typeof createTopic>, done: boolean }>} */
const jobs = new Map();
let jobCount = 0;

function startJob() {
  jobCount++;
  const id = `job-${jobCount}`;
  const job = { topic: createTopic({ limit: JOB_STEPS + 1 }), done: false };
  jobs.set(id, job);
  // Forget old jobs, so the map stays bounded however many are started.
  if (jobs.size > MAX_JOBS) jobs.delete(jobs.keys().next().value);
  let step = 0;
  const timer = setInterval(() => {
    step++;
    job.topic.publish("progress", { step, of: JOB_STEPS, percent: (100 * step) / JOB_STEPS });
    if (step < JOB_STEPS) return;
    clearInterval(timer);
    jobTimers.delete(timer);
    job.topic.publish("done", { job: id, result: `${JOB_STEPS} steps done` });
    job.done = true;
    void job.topic.closeAll();
  }, JOB_STEP_INTERVAL);
  jobTimers.add(timer);
  return Response.json({ id, url: `/jobs/${id}` }, { status: 201 });
}
const jobTimers = new Set();

/**
 * @param {Request} request
 * @param {string} id
 */
function jobStream(request, id) {
  const job = jobs.get(id);
  if (job === undefined) return text(404, "No such job\n");
  // The client has seen the `done` event and reconnects anyway: 204 tells EventSource to stop.
  if (job.done && request.headers.get("last-event-id") === job.topic.lastId) {
    return new Response(null, { status: 204 });
  }
  const { response, target } = sendEvents(request);
  target.dispatchEvent(new ServerSentEvent("hello", { job: id }, { retry: RETRY }));
  job.topic.join(target, { replayAll: true });
  // Finished while the client was away: it has now been sent everything, `done` included.
  if (job.done) void target.close();
  return response;
}

// --- The server. -----------------------------------------------------------------------------

/** @param {Request} request */
async function handle(request) {
  const { pathname } = new URL(request.url);
  const method = request.method;
  if (method === "GET" && Object.hasOwn(STATIC, pathname)) {
    const [file, type] = STATIC[/** @type {keyof typeof STATIC} */ (pathname)];
    const body = await readFile(new URL(`public/${file}`, import.meta.url));
    return new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });
  }
  if (method === "GET" && pathname === "/clock") return streamOr406(request, clockStream);
  if (method === "POST" && pathname === "/clock/drop") return dropClock(request);
  if (method === "GET" && pathname === "/room") return streamOr406(request, roomStream);
  if (method === "POST" && pathname === "/room") return postToRoom(request);
  if (method === "POST" && pathname === "/jobs") return startJob();
  const job = /^\/jobs\/(job-[0-9]+)$/.exec(pathname);
  if (method === "GET" && job !== null) {
    return streamOr406(request, (r) => jobStream(r, /** @type {string} */ (job[1])));
  }
  return text(404, "Not found\n");
}

/**
 * @param {Request} request
 * @param {(request: Request) => Response} stream
 */
function streamOr406(request, stream) {
  if (!acceptsEventStream(request)) return text(406, "This URL is an event stream\n");
  return stream(request);
}

/**
 * @param {number} status
 * @param {string} body
 */
function text(status, body) {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * Reads a small urlencoded or JSON body; `undefined` if it is larger than `MAX_BODY_BYTES`.
 *
 * @param {Request} request
 * @returns {Promise<Map<string, string> | undefined>}
 */
async function readForm(request) {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) return undefined;
  const raw = await request.text();
  if (raw.length > MAX_BODY_BYTES) return undefined;
  if (request.headers.get("content-type")?.includes("application/json")) {
    try {
      const json = JSON.parse(raw);
      return new Map(Object.entries(json ?? {}).filter(([, value]) => typeof value === "string"));
    } catch {
      return new Map();
    }
  }
  return new Map(new URLSearchParams(raw));
}

/** @param {string | undefined} value */
function readPort(value) {
  if (value === undefined || value === "") return DEFAULT_PORT;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    console.error(`PORT must be an integer from 0 to 65535, received ${JSON.stringify(value)}`);
    process.exit(1);
  }
  return number;
}

let server;
try {
  server = await serve(handle, { port, hostname: "127.0.0.1" });
} catch (error) {
  clearInterval(ticker);
  if (/** @type {NodeJS.ErrnoException} */ (error).code === "EADDRINUSE") {
    console.error(
      `Port ${port} on 127.0.0.1 is already in use. Stop what uses it, or pick another port:\n` +
        `  PORT=8766 npm start`,
    );
    process.exit(1);
  }
  throw error;
}
console.log(`sendevents demo: ${server.url.href}  (Ctrl-C to stop)`);

let stopping = false;
async function stop(signal) {
  if (stopping) process.exit(130); // A second Ctrl-C: don't wait.
  stopping = true;
  console.log(`\n${signal}: closing the streams and the server`);
  clearInterval(ticker);
  for (const timer of jobTimers) clearInterval(timer);
  await Promise.all([
    clock.closeAll(),
    room.closeAll(),
    ...[...jobs.values()].map((job) => job.topic.closeAll()),
  ]);
  await server.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
