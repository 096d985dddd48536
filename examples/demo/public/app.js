// The demo page: three EventSource streams, and a token stream read with sendevents/client, and
// what they show. Plain browser JavaScript, no build (the import map in index.html points
// `sendevents/client` at the built package). Everything the page receives is also kept on
// `window.demo`, which the browser tests read.
import { connect as connectEvents } from "sendevents/client";

const CLOCK_LOG_LENGTH = 8;
/** Ticks kept on `window.demo` (an hour's worth is plenty to check for gaps). */
const MAX_TICKS = 3600;
const ROOM_LOG_LENGTH = 30;
const CLOCK_EVENTS = ["hello", "live", "tick", "drop", "stale"];

const state = {
  /** Every event the page received, in order: `{ stream, type, id }`. */
  received: [],
  clock: {
    client: Math.random().toString(36).slice(2, 10),
    opens: 0,
    errors: 0,
    /**
     * The recent ticks, with the connection (1, 2, ...) each came on and whether it was a replay.
     * @type {{ n: number, id: string, connection: number, replayed: boolean }[]}
     */
    ticks: [],
    /** The `Last-Event-ID` the browser sent, as the server saw it, one per connection. */
    lastEventIds: [],
    replayed: 0,
    drops: 0,
    lost: 0,
    duplicates: 0,
    stale: 0,
  },
  room: { opens: 0, errors: 0, tabs: 0, /** @type {object[]} */ messages: [] },
  story: {
    opens: 0,
    errors: 0,
    /** @type {{ id: string, text: string }[]} */
    tokens: [],
    ended: false,
    /** @type {number | undefined} */
    readyState: undefined,
  },
  job: {
    id: "",
    url: "",
    opens: 0,
    errors: 0,
    /** @type {{ type: string, id: string, data: unknown }[]} */
    events: [],
    state: "idle",
    /** @type {number | undefined} */
    readyState: undefined,
  },
};
window.demo = state;

const $ = (id) => document.getElementById(id);

/** One clock for the whole page, 24-hour, so the big clock, its log and the room agree. */
const TIME = new Intl.DateTimeFormat([], {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const formatTime = (at) => TIME.format(new Date(at));

/** Logs each event of `types` on `source` to `state.received`. */
function record(stream, source, types) {
  for (const type of types) {
    source.addEventListener(type, (event) => {
      state.received.push({ stream, type, id: event.lastEventId });
      if (state.received.length > 1000) state.received.shift();
    });
  }
  return source;
}

/** Opens an EventSource that also logs each event of `types` to `state.received`. */
function connect(stream, url, types) {
  return record(stream, new EventSource(url), types);
}

function setStatus(element, source) {
  const [text, kind] =
    source.readyState === EventSource.OPEN
      ? ["live", "live"]
      : source.readyState === EventSource.CONNECTING
        ? ["reconnecting", "waiting"]
        : ["closed", "closed"];
  element.textContent = text;
  element.dataset.kind = kind;
}

// --- Clock -----------------------------------------------------------------------------------

function startClock() {
  const clock = state.clock;
  const source = connect("clock", `/clock?client=${clock.client}`, CLOCK_EVENTS);
  let replaying = false;
  let reconnectIn = 0;
  /** Counts the badge down to the reconnect the server asked for; cleared on `open`. */
  let countdown;
  const stopCountdown = () => {
    clearInterval(countdown);
    countdown = undefined;
  };
  source.addEventListener("open", () => {
    clock.opens++;
    reconnectIn = 0;
    stopCountdown();
    $("clock-reconnects").textContent = String(clock.opens - 1);
    setStatus($("clock-status"), source);
  });
  source.addEventListener("error", () => {
    clock.errors++;
    stopCountdown();
    setStatus($("clock-status"), source);
    if (reconnectIn > 0 && source.readyState === EventSource.CONNECTING) {
      const at = Date.now() + reconnectIn;
      reconnectIn = 0;
      const show = () => {
        const left = at - Date.now();
        if (left <= 0 || source.readyState !== EventSource.CONNECTING) {
          // The wait is over (or the stream is back): the browser is connecting now.
          stopCountdown();
          setStatus($("clock-status"), source);
          return;
        }
        $("clock-status").textContent = `reconnecting in ${(left / 1000).toFixed(1)} s`;
      };
      show();
      countdown = setInterval(show, 100);
    }
  });
  source.addEventListener("hello", (event) => {
    const { lastEventId } = JSON.parse(event.data);
    clock.lastEventIds.push(lastEventId);
    $("clock-last-event-id").textContent = lastEventId === "" ? "none" : lastEventId;
    replaying = true;
    if (clock.opens > 1) {
      const item = document.createElement("li");
      item.className = "divider";
      item.textContent = `reconnected with Last-Event-ID ${lastEventId || "(none)"}`;
      addToClockLog(item);
    }
  });
  source.addEventListener("drop", (event) => {
    reconnectIn = JSON.parse(event.data).retry;
    clock.drops++;
  });
  source.addEventListener("stale", () => {
    // The server no longer has what we missed (or restarted): say so rather than hide the gap,
    // and count from here.
    clock.stale++;
    clock.ticks.length = 0;
    const item = document.createElement("li");
    item.className = "divider";
    item.textContent = "stale: the server no longer has the ticks we missed";
    addToClockLog(item);
  });
  source.addEventListener("live", () => {
    // The server has sent what we missed: what follows is live.
    replaying = false;
  });
  source.addEventListener("tick", (event) => {
    const { n, now } = JSON.parse(event.data);
    const previous = clock.ticks.at(-1);
    if (previous !== undefined) {
      if (n > previous.n + 1) clock.lost += n - previous.n - 1;
      if (n <= previous.n) clock.duplicates++;
    }
    clock.ticks.push({ n, id: event.lastEventId, connection: clock.opens, replayed: replaying });
    if (clock.ticks.length > MAX_TICKS) clock.ticks.shift();
    if (replaying) {
      clock.replayed++;
      $("clock-replayed").textContent = String(clock.replayed);
    }
    $("clock-time").textContent = formatTime(now);
    $("clock-n").textContent = String(n);
    $("clock-id").textContent = event.lastEventId;
    $("clock-lost").textContent = String(clock.lost);
    $("clock-lost").dataset.bad = String(clock.lost + clock.duplicates > 0);
    const item = document.createElement("li");
    if (replaying) item.className = "replayed";
    const id = document.createElement("code");
    id.textContent = `id ${event.lastEventId}`;
    const time = document.createElement("time");
    time.dateTime = now;
    time.textContent = formatTime(now);
    item.append(id, `tick ${n}`, time);
    addToClockLog(item);
  });
  $("clock-drop").addEventListener("click", async () => {
    await fetch(`/clock/drop?client=${clock.client}`, { method: "POST" });
  });
}

function addToClockLog(item) {
  const log = $("clock-log");
  log.prepend(item);
  while (log.children.length > CLOCK_LOG_LENGTH) log.lastElementChild.remove();
}

// --- Room ------------------------------------------------------------------------------------

function startRoom() {
  const room = state.room;
  const source = connect("room", "/room", ["hello", "chat", "presence", "stale"]);
  source.addEventListener("open", () => {
    room.opens++;
    setStatus($("room-status"), source);
  });
  source.addEventListener("error", () => {
    room.errors++;
    setStatus($("room-status"), source);
    // Disconnected: the last count is stale until the server announces presence again.
    room.tabs = 0;
    $("room-presence").textContent = "Not connected: the tab count comes back with the server";
    $("room-presence").dataset.stale = "true";
  });
  source.addEventListener("presence", (event) => {
    room.tabs = JSON.parse(event.data).tabs;
    const presence = $("room-presence");
    presence.replaceChildren();
    const count = document.createElement("strong");
    count.id = "room-tabs";
    count.textContent = String(room.tabs);
    presence.append(count, room.tabs === 1 ? " tab in the room" : " tabs in the room");
    delete presence.dataset.stale;
  });
  source.addEventListener("chat", (event) => {
    const message = { id: event.lastEventId, ...JSON.parse(event.data) };
    room.messages.push(message);
    const item = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = message.name;
    const time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = formatTime(message.at);
    const text = document.createElement("span");
    text.textContent = message.text;
    item.append(name, " ", text, " ", time);
    const log = $("room-log");
    $("room-empty")?.remove();
    log.append(item);
    while (log.children.length > ROOM_LOG_LENGTH) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  });

  const name = $("room-name");
  name.value =
    localStorage.getItem("sendevents-demo-name") ?? `guest-${state.clock.client.slice(0, 4)}`;
  $("room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("room-text");
    if (text.value.trim() === "") return;
    localStorage.setItem("sendevents-demo-name", name.value);
    const body = new URLSearchParams({ name: name.value, text: text.value });
    text.value = "";
    await fetch("/room", { method: "POST", body, headers: { accept: "application/json" } });
  });
}

// --- Progress --------------------------------------------------------------------------------

async function startJob() {
  const job = state.job;
  const button = $("job-start");
  button.disabled = true;
  const response = await fetch("/jobs", {
    method: "POST",
    headers: { accept: "application/json" },
  });
  const { id, url } = await response.json();
  Object.assign(job, { id, url, opens: 0, errors: 0, events: [], state: "running" });
  $("job-id").textContent = id;
  $("job-progress").value = 0;
  const source = connect("job", url, ["hello", "progress", "done", "stale"]);
  const show = () => {
    job.readyState = source.readyState;
    $("job-events").textContent = String(job.events.length);
    $("job-opens").textContent = String(job.opens);
  };
  source.addEventListener("open", () => {
    job.opens++;
    setStatus($("job-status"), source);
    show();
  });
  source.addEventListener("error", () => {
    job.errors++;
    setStatus($("job-status"), source);
    show();
  });
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    job.events.push({ type: "progress", id: event.lastEventId, data });
    $("job-progress").value = data.percent;
    $("job-state").textContent = `Step ${data.step} of ${data.of}`;
    show();
  });
  source.addEventListener("done", (event) => {
    const data = JSON.parse(event.data);
    job.events.push({ type: "done", id: event.lastEventId, data });
    // The terminal event: stop here, whatever the server does next.
    source.close();
    job.state = "done";
    $("job-state").textContent = `Done: ${data.result}. The stream is closed; no reconnect.`;
    setStatus($("job-status"), source);
    $("job-status").textContent = "done";
    button.disabled = false;
    button.textContent = "Start another job";
    show();
  });
}

// --- Token stream ----------------------------------------------------------------------------

function startStory() {
  const story = state.story;
  Object.assign(story, { opens: 0, errors: 0, tokens: [], ended: false });
  const start = $("story-start");
  const stop = $("story-stop");
  const text = $("story-text");
  text.textContent = "";
  start.disabled = true;
  stop.disabled = false;
  // sendevents/client: a POST (a model's prompt would go in the body), read like an EventSource,
  // resuming with Last-Event-ID after a drop, and stopped for good by the 204 after the end.
  const source = record(
    "story",
    connectEvents("/story", { method: "POST", parse: { end: "json" } }),
    ["hello", "token", "end"],
  );
  const show = () => {
    story.readyState = source.readyState;
    $("story-count").textContent = String(story.tokens.length);
    $("story-opens").textContent = String(story.opens);
  };
  const finish = (status) => {
    source.close();
    show();
    $("story-status").textContent = status;
    $("story-status").dataset.kind = "closed";
    start.disabled = false;
    stop.disabled = true;
    start.textContent = "Stream it again";
  };
  source.addEventListener("open", () => {
    story.opens++;
    setStatus($("story-status"), source);
    show();
  });
  source.addEventListener("error", () => {
    story.errors++;
    setStatus($("story-status"), source);
    show();
  });
  source.addEventListener("token", (event) => {
    story.tokens.push({ id: event.lastEventId, text: event.data });
    // Each token keeps its leading space: the wire format carries it intact.
    text.append(event.data);
    $("story-id").textContent = event.lastEventId;
    show();
  });
  source.addEventListener("end", () => {
    story.ended = true;
    finish("done");
  });
  stop.onclick = () => finish("stopped");
}

startClock();
startRoom();
$("job-start").addEventListener("click", () => void startJob());
$("story-start").addEventListener("click", startStory);
