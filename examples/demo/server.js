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
 * - `POST /story` (and `GET /story`, for `EventSource`): a paragraph streamed one word at a time
 *   from an async generator with `target.pipeFrom()`, as a language model's tokens would be; the
 *   generator is cancelled when the client leaves, and a reconnect resumes at the next word. The
 *   page reads it with `connect()` from `sendevents/client`;
 * - `GET /sendevents/…`: the built client (`dist/src/client/`), which the page imports;
 * - `GET /stats`: how many streams are open, the closes by reason (`metrics` from the package),
 *   token generators running, and bytes still queued for the clock's clients (`bufferedAmount`).
 *
 * Resume and broadcast come from `Channel` and `MemoryEventStore`: ids are assigned by the store,
 * and a client that reconnects is sent what it missed, or a `stale` event when that is gone.
 *
 * Set `PORT` to change the port (default 8765; `PORT=0` picks a free one).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import {
  acceptsEventStream,
  Channel,
  MemoryEventStore,
  metrics,
  readLastEventId,
  ServerSentEvent,
  sendEvents,
} from "sendevents";
import { serve } from "sendevents/node";

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
const TOKEN_INTERVAL = 60;
const STORY = [
  "Server-Sent Events are plain HTTP: one long response, one event per blank line.",
  "The browser's EventSource reconnects by itself and sends back the last id it saw,",
  "so a server that keeps a little history loses nothing when the network blinks.",
].join(" ");
/** The story's tokens: each word with the space before it, so that joined they give it back. */
const STORY_TOKENS = STORY.split(/(?= )/);
const HOUR = 60 * 60_000;

const STATIC = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

/** The built client and the internal files it imports (describe, check-integer), served as modules. */
const CLIENT_MODULE = /^\/sendevents\/((?:client|_internal)\/[a-z-]+\.js)$/;

const port = readPort(process.env.PORT);

/**
 * A store for one channel. Its epoch (the id prefix that tells this run's ids from an earlier
 * run's) is 4 random characters rather than the default 12, so ids stay short on the page.
 *
 * @param {import("sendevents").MemoryEventStoreOptions} options
 */
function createStore(options) {
  const epoch = Array.from(crypto.getRandomValues(new Uint8Array(4)), (byte) =>
    (byte % 36).toString(36),
  ).join("");
  return new MemoryEventStore({ ...options, epoch });
}

/**
 * `sendEvents`, then a `hello` event that tells the page which `Last-Event-ID` its browser sent.
 *
 * @param {Request} request
 * @param {import("sendevents").SendEventsOptions} [options]
 */
function openStream(request, options) {
  const result = sendEvents(request, options);
  const { target } = result;
  // `retry` first, so that a reconnect, even in the middle of a replay, comes back quickly.
  target.dispatchEvent(
    new ServerSentEvent("hello", { lastEventId: target.lastEventId }, { retry: RETRY }),
  );
  return result;
}

/**
 * Adds a stream to a channel. A client that comes back with `Last-Event-ID` gets what it
 * missed (the channel does that); a new one first gets what the channel's store holds.
 *
 * @param {Channel} channel
 * @param {import("sendevents").ServerSentEventTarget} target
 */
async function joinWithHistory(channel, target) {
  let after = target.lastEventId;
  if (after === "") {
    const recent = await channel.store.read("");
    for (const event of recent.events) target.dispatchEvent(event);
    after = recent.events.at(-1)?.id ?? recent.lastId;
  }
  // Replays whatever was broadcast after `after` (even while we were reading), then goes live.
  await channel.register(target, { lastEventId: after });
}

// --- The clock: one ticker for everybody, so a client that drops misses real ticks. ---------

const clock = new Channel("clock", { store: createStore({ maxEvents: 120 }) });
/** Each page's clock stream, by the `client` it names, so that the page can ask for a drop. */
const clockTargets = new Map();
let ticks = 0;
const ticker = setInterval(() => {
  ticks++;
  void clock.broadcast({ n: ticks, now: new Date().toISOString() }, { type: "tick" });
}, TICK_INTERVAL);

/** @param {Request} request */
function clockStream(request) {
  const client = new URL(request.url).searchParams.get("client") ?? "";
  const { response, target } = openStream(request);
  // Replays the ticks after Last-Event-ID (none for a new client), then `live`, then live ticks.
  void clock.register(target).then(() => target.dispatchEvent(new ServerSentEvent("live", {})));
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

const room = new Channel("room", {
  store: createStore({ maxEvents: 50, maxAge: HOUR }),
});

/** The room's open tabs, for the presence count. */
const tabs = new Set();

/** @param {Request} request */
function roomStream(request) {
  // A room can be quiet for minutes: a comment every 15 s (instead of 5) is enough to keep
  // proxies, whose idle timeouts are 60 s and more, from cutting the stream.
  const { response, target } = openStream(request, { keepAlive: 15_000 });
  target.addEventListener("close", () => {
    if (tabs.delete(target)) announcePresence();
  });
  void joinWithHistory(room, target).then(() => {
    if (target.closed) return;
    tabs.add(target);
    announcePresence();
  });
  return response;
}

function announcePresence() {
  // Not a broadcast: presence is not history, so it is not stored, and an event without an id
  // leaves the client's Last-Event-ID alone.
  const event = new ServerSentEvent("presence", { tabs: tabs.size });
  for (const target of tabs) target.dispatchEvent(event);
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
  const event = await room.broadcast(
    { name, text: message, at: new Date().toISOString() },
    { type: "chat" },
  );
  // A form posted without JavaScript goes back to the page; fetch() gets the event's id.
  if (!request.headers.get("accept")?.includes("application/json")) {
    return new Response(null, { status: 303, headers: { location: "/" } });
  }
  return Response.json({ id: event.id }, { status: 201 });
}

// --- Jobs: a finite stream that ends with a terminal event and a server close. ---------------

/**
 * @typedef {object} Job
 * @property {Channel} channel Its progress events, kept for clients that (re)connect.
 * @property {Set<import("sendevents").ServerSentEventTarget>} streams Its open streams.
 * @property {boolean} done Whether the `done` event was sent.
 */
/** @type {Map<string, Job>} */
const jobs = new Map();
const jobTimers = new Set();
let jobCount = 0;

function startJob() {
  jobCount++;
  const id = `job-${jobCount}`;
  const store = createStore({ maxEvents: JOB_STEPS + 1, maxAge: HOUR });
  /** @type {Job} */
  const job = { channel: new Channel(id, { store }), streams: new Set(), done: false };
  jobs.set(id, job);
  // Forget old jobs, so the map stays bounded however many are started.
  if (jobs.size > MAX_JOBS) jobs.delete(/** @type {string} */ (jobs.keys().next().value));
  let step = 0;
  const timer = setInterval(() => {
    step++;
    const progress = { step, of: JOB_STEPS, percent: (100 * step) / JOB_STEPS };
    void job.channel.broadcast(progress, { type: "progress" });
    if (step < JOB_STEPS) return;
    clearInterval(timer);
    jobTimers.delete(timer);
    void finishJob(id, job);
  }, JOB_STEP_INTERVAL);
  jobTimers.add(timer);
  return Response.json({ id, url: `/jobs/${id}` }, { status: 201 });
}

/**
 * The terminal event, then the server ends every stream of the job.
 *
 * @param {string} id
 * @param {Job} job
 */
async function finishJob(id, job) {
  await job.channel.broadcast({ job: id, result: `${JOB_STEPS} steps done` }, { type: "done" });
  job.done = true;
  await Promise.all([...job.streams].map((target) => target.close()));
}

/**
 * @param {Request} request
 * @param {string} id
 */
function jobStream(request, id) {
  const job = jobs.get(id);
  if (job === undefined) return text(404, "No such job\n");
  // The client has seen the `done` event and reconnects anyway: 204 tells EventSource to stop.
  const { lastId } = /** @type {MemoryEventStore} */ (job.channel.store);
  if (job.done && readLastEventId(request.headers) === lastId) {
    return new Response(null, { status: 204 });
  }
  const { response, target } = openStream(request);
  job.streams.add(target);
  target.addEventListener("close", () => job.streams.delete(target));
  void joinWithHistory(job.channel, target).then(() => {
    // Finished while the client was away: it has now been sent everything, `done` included.
    if (job.done) void target.close();
  });
  return response;
}

// --- A token stream: an async generator piped into the stream. --------------------------------

/**
 * A stand-in for a language model: yields the story's tokens from `start` on, one every
 * `TOKEN_INTERVAL` ms. When the client leaves, `target.signal` aborts the wait and `pipeFrom`
 * calls `return()`: no token is produced for nobody.
 *
 * @param {number} start
 * @param {AbortSignal} signal
 */
async function* generateTokens(start, signal) {
  generators++;
  try {
    for (const token of STORY_TOKENS.slice(start)) {
      // The stream's signal: the wait (a model thinking) ends the moment the client leaves.
      await sleep(TOKEN_INTERVAL, undefined, { signal });
      tokensYielded++;
      yield token;
    }
  } finally {
    generators--;
  }
}
/** Token generators running now: back to 0 once every client has finished or left. */
let generators = 0;
/** Tokens produced since start: a generator cancelled early produces fewer than the story has. */
let tokensYielded = 0;

/** @param {Request} request */
function storyStream(request) {
  // Token ids are their index, so a reconnect resumes at the next one; the `end` event's id is
  // the token count, and a reconnect after it is answered 204 (stop), like a finished job.
  const lastEventId = readLastEventId(request.headers);
  const end = STORY_TOKENS.length;
  if (lastEventId === String(end)) return new Response(null, { status: 204 });
  const seen = /^[0-9]+$/.test(lastEventId) ? Number(lastEventId) : -1;
  const start = seen >= 0 && seen < end ? seen + 1 : 0;
  // Tokens are small: pipeFrom waits on `target.ready` once 16 KiB are queued for a slow client
  // (so the generator pauses), and a client 256 KiB behind is dropped ("overflow"); it resumes.
  const { response, target } = openStream(request, {
    highWaterMark: 16 * 1024,
    maxBufferedAmount: 256 * 1024,
  });
  const piped = target.pipeFrom(generateTokens(start, target.signal), {
    event: "token",
    id: (_token, index) => start + index,
    // The stream stays open after the last token, for the terminal event.
    preventClose: true,
  });
  void piped.then(() => {
    if (target.closed) return;
    target.dispatchEvent(new ServerSentEvent("end", { tokens: end }, { id: end }));
    return target.close();
  });
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
  if ((method === "GET" || method === "POST") && pathname === "/story") {
    return streamOr406(request, storyStream);
  }
  const module = method === "GET" ? CLIENT_MODULE.exec(pathname) : null;
  if (module !== null) {
    const file = new URL(`../../dist/src/${module[1]}`, import.meta.url);
    const body = await readFile(file).catch(() => null);
    if (body === null) return text(404, "Not built: run `npm run build`\n");
    return new Response(body, {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" },
    });
  }
  // What is running now, to see that nothing outlives its client.
  if (method === "GET" && pathname === "/stats") {
    let clockBuffered = 0;
    for (const set of clockTargets.values()) {
      for (const target of set) clockBuffered += target.bufferedAmount;
    }
    return Response.json({
      open: metrics.open,
      closes: metrics.closes,
      generators,
      tokensYielded,
      clockBuffered,
    });
  }
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
/** @param {NodeJS.Signals} signal */
async function stop(signal) {
  if (stopping) process.exit(130); // A second Ctrl-C: don't wait.
  stopping = true;
  console.log(`\n${signal}: closing the streams and the server`);
  clearInterval(ticker);
  for (const timer of jobTimers) clearInterval(timer);
  // serve() tracks its event streams: each client is told to come back in 1 to 2 s (as it would
  // after a deploy), its stream ends cleanly, then the server closes.
  const { closed, aborted } = await server.shutdown({ retry: 1000, jitter: 1000, deadline: 3000 });
  console.log(`${closed} streams closed, ${aborted} aborted`);
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
