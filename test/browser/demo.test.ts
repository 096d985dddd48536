import { mkdir, stat } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { DEFAULT_HEADERS } from "../../src/index.ts";
import { parse } from "../helpers/stream.ts";
import { launchChromium } from "./chromium.ts";
import { type DemoServer, startDemo } from "./demo-server.ts";

/** What examples/demo/public/app.js keeps on `window.demo`. */
interface DemoState {
  received: { stream: string; type: string; id: string }[];
  clock: {
    opens: number;
    errors: number;
    ticks: { n: number; id: string; connection: number; replayed: boolean }[];
    lastEventIds: string[];
    replayed: number;
    drops: number;
    lost: number;
    duplicates: number;
    stale: number;
  };
  room: {
    opens: number;
    errors: number;
    tabs: number;
    messages: { id: string; name: string; text: string; at: string }[];
  };
  story: {
    opens: number;
    errors: number;
    tokens: { id: string; text: string }[];
    ended: boolean;
    readyState: number | undefined;
  };
  job: {
    id: string;
    url: string;
    opens: number;
    errors: number;
    events: { type: string; id: string; data: { step?: number; result?: string } }[];
    state: string;
    readyState: number | undefined;
  };
}

declare global {
  interface Window {
    demo: DemoState;
  }
}

const SCREENSHOT = new URL("../../test-results/demo.png", import.meta.url);

let demo: DemoServer;
let browser: Browser;
const pages: Page[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  [demo, browser] = await Promise.all([startDemo(), launchChromium()]);
});

afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.close()));
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await demo?.stop("SIGKILL");
});

async function openPage(): Promise<Page> {
  // Wide enough for the three cards side by side, as in the README's screenshot.
  const page = await browser.newPage({ viewport: { width: 1120, height: 720 } });
  // Fail with Playwright's message (what was awaited) well before vitest's own timeout.
  page.setDefaultTimeout(10_000);
  pages.push(page);
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(demo.url.href);
  return page;
}

/** The `n` of each tick, and the run of consecutive numbers it should be. */
function consecutive(ticks: { n: number }[]): { got: number[]; want: number[] } {
  const got = ticks.map((tick) => tick.n);
  const first = got[0] ?? 0;
  return { got, want: got.map((_, i) => first + i) };
}

describe("the demo page in Chromium (Debian's /usr/bin/chromium through playwright-core)", () => {
  test("Chromium sees the documented headers on the event stream and gets ticks with ids", async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    pages.push(page);
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    const clockResponse = page.waitForResponse((r) => new URL(r.url()).pathname === "/clock");
    await page.goto(demo.url.href);
    const response = await clockResponse;
    expect(response.status()).toBe(200);
    const headers = await response.allHeaders();
    for (const [name, value] of Object.entries(DEFAULT_HEADERS)) {
      expect(headers[name], name).toBe(value);
    }

    await page.waitForFunction(() => window.demo.clock.ticks.length >= 3);
    const { received, ticks, shownId } = await page.evaluate(() => ({
      received: window.demo.received.filter((event) => event.stream === "clock"),
      ticks: window.demo.clock.ticks,
      shownId: document.getElementById("clock-id")?.textContent,
    }));
    // The stream opens with a hello (which sets retry) and "live" (nothing to replay), then ticks.
    expect(received.slice(0, 2).map((event) => event.type)).toEqual(["hello", "live"]);
    expect(received.slice(2).map((event) => event.type)).toEqual(ticks.map(() => "tick"));
    // Each tick carries an id, a new one every time, which EventSource exposes as lastEventId.
    for (const tick of ticks) expect(tick.id).toMatch(/^\S+$/);
    expect(new Set(ticks.map((tick) => tick.id)).size).toBe(ticks.length);
    const { got, want } = consecutive(ticks);
    expect(got).toEqual(want);
    expect(shownId).toBe(ticks.at(-1)?.id);
  });

  test("an empty room says so, until the first message", async () => {
    const page = await openPage();
    await page.waitForFunction(() => window.demo.room.opens === 1);
    // The first tab of a fresh server, before any message (the room replays its history to a
    // new tab, so this runs before the other tests post).
    expect(await page.locator("#room-log li").allTextContents()).toEqual([
      "No messages yet: say something, and every open tab gets it.",
    ]);
    expect(await page.locator("#room-empty").isVisible()).toBe(true);
    await page.fill("#room-text", "The first message this tab sees.");
    await page.click("#room-form button");
    await page.waitForFunction(() => window.demo.room.messages.length === 1);
    expect(await page.locator("#room-empty").count()).toBe(0);
    expect(await page.locator("#room-log li").count()).toBe(1);
  });

  test("a message posted in one tab reaches every tab, with the same id", async () => {
    const [a, b] = await Promise.all([openPage(), openPage()]);
    await b.waitForFunction(() => window.demo.room.tabs >= 2);
    const text = "Hello from tab A: every tab gets this.";
    await a.fill("#room-name", "tab A");
    await a.fill("#room-text", text);
    await a.click("#room-form button");
    const wait = (page: Page) =>
      page.waitForFunction(
        (text) => window.demo.room.messages.find((message) => message.text === text),
        text,
      );
    const [inA, inB] = await Promise.all([
      wait(a).then((handle) => handle.jsonValue()),
      wait(b).then((handle) => handle.jsonValue()),
    ]);
    expect(inB).toEqual(inA);
    expect(inB).toMatchObject({ name: "tab A", text });
    expect(inB?.id).toMatch(/^\S+$/);
    expect(await b.locator("#room-log").textContent()).toContain(text);
    // The form was sent by fetch: the page did not navigate away.
    expect(await a.evaluate(() => window.demo.room.opens)).toBe(1);
  });

  test("after a server-side drop Chromium reconnects with Last-Event-ID and no tick is lost", async () => {
    const page = await openPage();
    await page.waitForFunction(() => window.demo.clock.ticks.length >= 2);
    // Every text the clock's badge shows from now on.
    await page.evaluate(() => {
      const badge = document.getElementById("clock-status")!;
      const seen: string[] = [];
      new MutationObserver(() => seen.push(badge.textContent ?? "")).observe(badge, {
        childList: true,
        characterData: true,
        subtree: true,
      });
      Object.assign(window, { badgeTexts: seen });
    });
    const drop = page.waitForResponse((r) => new URL(r.url()).pathname === "/clock/drop");
    await page.click("#clock-drop");
    expect((await drop).status()).toBe(204);
    // Two live ticks on the new connection: the replay is over and the stream is live again.
    await page.waitForFunction(
      () =>
        window.demo.clock.ticks.filter((tick) => tick.connection === 2 && !tick.replayed).length >=
        2,
      undefined,
      { timeout: 15_000 },
    );
    const { clock, shown } = await page.evaluate(() => ({
      clock: window.demo.clock,
      shown: {
        reconnects: document.getElementById("clock-reconnects")?.textContent,
        lastEventId: document.getElementById("clock-last-event-id")?.textContent,
        lost: document.getElementById("clock-lost")?.textContent,
      },
    }));
    const before = clock.ticks.filter((tick) => tick.connection === 1);
    const after = clock.ticks.filter((tick) => tick.connection === 2);
    expect(clock.opens).toBe(2);
    expect(clock.drops).toBe(1);
    expect(clock.errors).toBeGreaterThanOrEqual(1);
    // The browser sent the id of the last tick it saw, and the server saw it.
    expect(clock.lastEventIds).toEqual(["", before.at(-1)?.id]);
    // The server ended the stream with retry: 2500 at one tick a second: ticks were missed and
    // came back as a replay, so the sequence runs on without a gap or a repeat.
    expect(after.filter((tick) => tick.replayed).length).toBeGreaterThanOrEqual(1);
    expect(after[0]?.n).toBe((before.at(-1)?.n ?? Number.NaN) + 1);
    const { got, want } = consecutive(clock.ticks);
    expect(got).toEqual(want);
    expect(new Set(clock.ticks.map((tick) => tick.id)).size).toBe(clock.ticks.length);
    expect({ lost: clock.lost, duplicates: clock.duplicates, stale: clock.stale }).toEqual({
      lost: 0,
      duplicates: 0,
      stale: 0,
    });
    expect(shown).toEqual({ reconnects: "1", lastEventId: before.at(-1)?.id, lost: "0" });
    // The badge counted down the server's retry (2.5 s), then went live again.
    const texts = await page.evaluate(
      () => (window as unknown as { badgeTexts: string[] }).badgeTexts,
    );
    const seconds = [
      ...new Set(texts.map((text) => /^reconnecting in (\d+\.\d) s$/.exec(text)?.[1])),
    ]
      .filter((value) => value !== undefined)
      .map(Number);
    expect(seconds.length, texts.join(" | ")).toBeGreaterThanOrEqual(5);
    expect(seconds[0]).toBeLessThanOrEqual(2.5);
    expect(seconds).toEqual([...seconds].sort((a, b) => b - a));
    expect(texts.at(-1)).toBe("live");
  });

  test("the default name fits its field, wide and on a phone", async () => {
    for (const viewport of [
      { width: 1120, height: 720 },
      { width: 360, height: 740 },
    ]) {
      const page = await browser.newPage({ viewport });
      page.setDefaultTimeout(10_000);
      pages.push(page);
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      await page.goto(demo.url.href);
      const name = page.locator("#room-name");
      await expect.poll(() => name.inputValue()).toMatch(/^guest-[a-z0-9]{4}$/);
      const { scrollWidth, clientWidth } = await name.evaluate((input: HTMLInputElement) => ({
        scrollWidth: input.scrollWidth,
        clientWidth: input.clientWidth,
      }));
      expect(scrollWidth, `at ${viewport.width} px`).toBeLessThanOrEqual(clientWidth);
    }
  });

  test("the clock, its log and the room show the time the same way, 24-hour", async () => {
    const page = await openPage();
    await page.waitForFunction(() => window.demo.clock.ticks.length >= 1);
    await page.fill("#room-text", "What time is it?");
    await page.click("#room-form button");
    await page.waitForFunction(() =>
      window.demo.room.messages.some((message) => message.text === "What time is it?"),
    );
    const shown = await page.evaluate(() => ({
      clock: document.getElementById("clock-time")?.textContent,
      log: document.querySelector("#clock-log li:not(.divider) time")?.textContent,
      room: document.querySelector("#room-log li:last-child time")?.textContent,
    }));
    // Chromium's en-US default would be 12-hour ("9:41:07 AM").
    for (const text of Object.values(shown)) expect(text).toMatch(/^\d{2}:\d{2}:\d{2}$/);
    expect(shown.log).toBe(shown.clock); // the newest tick is the one the clock shows
  });

  test("a job's stream ends with done and a server close, and Chromium does not reconnect", async () => {
    const page = await openPage();
    const jobRequests: { path: string; status: number; lastEventId: string | null }[] = [];
    page.on("response", (response) => {
      const path = new URL(response.url()).pathname;
      if (!path.startsWith("/jobs/")) return;
      response
        .request()
        .headerValue("last-event-id")
        .then(
          (lastEventId) => jobRequests.push({ path, status: response.status(), lastEventId }),
          // The page closed first: the assertion below then sees a request missing.
          () => {},
        );
    });
    await page.click("#job-start");
    await page.waitForFunction(() => window.demo.job.state === "done", undefined, {
      timeout: 15_000,
    });
    const job = await page.evaluate(() => window.demo.job);
    expect(job.events.map((event) => event.type)).toEqual([
      ...Array.from({ length: 20 }, () => "progress"),
      "done",
    ]);
    expect(job.events.map((event) => event.data.step ?? "done")).toEqual([
      ...Array.from({ length: 20 }, (_, i) => i + 1),
      "done",
    ]);
    expect(new Set(job.events.map((event) => event.id)).size).toBe(21);
    expect(job.readyState).toBe(2); // EventSource.CLOSED: the page closed it on `done`.
    expect(job.opens).toBe(1);
    expect(
      await page.locator("#job-progress").evaluate((el: HTMLProgressElement) => el.value),
    ).toBe(100);
    expect(await page.locator("#job-status").textContent()).toBe("done");

    // Now the server's half of the pattern: an EventSource that does NOT close itself on `done`
    // gets the finished job replayed, sees the server close, reconnects once with the last id,
    // is answered 204, and stops for good.
    const log = await page.evaluate(async (url) => {
      const source = new EventSource(url);
      const log: { type: string; id: string; readyState: number }[] = [];
      for (const type of ["open", "progress", "done", "error"]) {
        source.addEventListener(type, (event) => {
          const id = event instanceof MessageEvent ? event.lastEventId : "";
          log.push({ type, id, readyState: source.readyState });
        });
      }
      await new Promise<void>((resolve) => {
        source.addEventListener("error", () => {
          if (source.readyState === EventSource.CLOSED) resolve();
        });
        // Never given up: the assertions below show what happened instead.
        setTimeout(resolve, 10_000);
      });
      // It stays closed: nothing more happens over two reconnection times.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const final = source.readyState;
      source.close();
      return { log, final };
    }, job.url);
    expect(log.final).toBe(2);
    expect(log.log.map((entry) => entry.type)).toEqual([
      "open",
      ...Array.from({ length: 20 }, () => "progress"),
      "done",
      "error", // the server closed the stream: Chromium reconnects (readyState CONNECTING)
      "error", // the 204: Chromium gives up (readyState CLOSED)
    ]);
    expect(log.log.at(-2)?.readyState).toBe(0);
    expect(log.log.at(-1)?.readyState).toBe(2);
    const doneId = job.events.at(-1)?.id;
    // Sorted by status: the listener awaits a header, so the two 200s could log in either order.
    jobRequests.sort((a, b) => a.status - b.status);
    expect(jobRequests).toEqual([
      { path: job.url, status: 200, lastEventId: null },
      { path: job.url, status: 200, lastEventId: null },
      { path: job.url, status: 204, lastEventId: doneId },
    ]);
  });

  test("a paragraph piped from an async generator arrives token by token through sendevents/client's POST, spaces intact, then ends", async () => {
    const page = await openPage();
    const request = page.waitForRequest((r) => new URL(r.url()).pathname === "/story");
    await page.click("#story-start");
    expect((await request).method()).toBe("POST");
    expect((await request).headers()["accept"]).toBe("text/event-stream");
    await page.waitForFunction(() => window.demo.story.ended, undefined, { timeout: 15_000 });
    const { story, shown, end } = await page.evaluate(() => ({
      story: window.demo.story,
      shown: document.getElementById("story-text")?.textContent,
      end: window.demo.received.find((event) => event.stream === "story" && event.type === "end"),
    }));
    expect(story.tokens.length).toBeGreaterThan(20);
    // Ids count from 0 without a gap; the terminal event's id is the count.
    expect(story.tokens.map((token) => token.id)).toEqual(story.tokens.map((_, i) => String(i)));
    expect(end?.id).toBe(String(story.tokens.length));
    // Every token after the first is a word with its leading space, which the wire format keeps.
    expect(story.tokens[0]?.text).toMatch(/^\S+$/);
    for (const token of story.tokens.slice(1)) expect(token.text).toMatch(/^ \S+$/);
    expect(shown).toBe(story.tokens.map((token) => token.text).join(""));
    expect(shown).toMatch(/^Server-Sent Events are plain HTTP: .* when the network blinks\.$/);
    expect({ opens: story.opens, readyState: story.readyState }).toEqual({
      opens: 1,
      readyState: 2,
    });
  });

  test("Stop closes the page's sendevents/client connection, and the server cancels the token generator", async () => {
    const page = await openPage();
    type Stats = { generators: number; tokensYielded: number };
    const stats = async (): Promise<Stats> =>
      (await fetch(new URL("/stats", demo.url))).json() as Promise<Stats>;
    const before = await stats();
    await page.click("#story-start");
    await page.waitForFunction(() => window.demo.story.tokens.length >= 3);
    expect((await stats()).generators).toBe(1);
    await page.click("#story-stop");
    const stoppedAt = await page.evaluate(() => window.demo.story.tokens.length);
    // The server sees the client leave and calls return() on the generator: it stops running.
    await expect.poll(async () => (await stats()).generators, { timeout: 5000 }).toBe(0);
    // ...early: it produced a few tokens past the last one shown, not the rest of the story (41).
    const produced = (await stats()).tokensYielded - before.tokensYielded;
    expect(produced).toBeGreaterThanOrEqual(stoppedAt);
    expect(produced).toBeLessThan(Math.min(stoppedAt + 10, 41));
    const story = await page.evaluate(() => window.demo.story);
    expect(story.tokens.length).toBe(stoppedAt);
    expect(story.ended).toBe(false);
    expect(story.readyState).toBe(2);
    expect(await page.locator("#story-status").textContent()).toBe("stopped");
  });

  test("sendevents/client and Chromium's own EventSource, side by side on the demo page, receive the same events", async () => {
    const page = await openPage();
    // The client as the page's own modules import it, through the import map in index.html.
    await page.addScriptTag({
      type: "module",
      content:
        'import { connect } from "sendevents/client"; window.sendeventsClient = { connect };',
    });
    await page.waitForFunction(() => "sendeventsClient" in window);
    const { native, client, card } = await page.evaluate(async () => {
      const { connect } = (
        window as unknown as { sendeventsClient: typeof import("../../src/client/index.ts") }
      ).sendeventsClient;
      const types = ["hello", "token", "end"];
      type Seen = { type: string; data: string; lastEventId: string };
      const read = (source: EventTarget & { close(): void }) =>
        new Promise<Seen[]>((resolve) => {
          const seen: Seen[] = [];
          const done = () => {
            source.close();
            resolve(seen);
          };
          for (const type of types) {
            source.addEventListener(type, (event: Event) => {
              const { data, lastEventId } = event as MessageEvent<string>;
              seen.push({ type, data, lastEventId });
              if (type === "end") done();
            });
          }
          // Never given up: the assertions below show what came.
          setTimeout(done, 10_000);
        });
      const [native, client] = await Promise.all([
        read(new EventSource("/story")),
        read(connect("/story")),
      ]);
      return { native, client, card: typeof connect };
    });
    expect(card).toBe("function");
    expect(native.map((event) => event.type)).toEqual([
      "hello",
      ...Array.from({ length: native.length - 2 }, () => "token"),
      "end",
    ]);
    expect(native.length).toBeGreaterThan(20);
    expect(client).toEqual(native);
  });

  test("sendevents/client stays connected when the page goes hidden: no reconnect, no tick missed", async () => {
    const page = await openPage();
    await page.addScriptTag({
      type: "module",
      content:
        'import { connect } from "sendevents/client"; window.sendeventsClient = { connect };',
    });
    await page.waitForFunction(() => "sendeventsClient" in window);
    await page.evaluate(() => {
      const { connect } = (
        window as unknown as { sendeventsClient: typeof import("../../src/client/index.ts") }
      ).sendeventsClient;
      const log = { opens: 0, errors: 0, ticks: [] as number[], hidden: [] as boolean[] };
      const connection = connect<{ tick: { n: number } }>("/clock", { parse: { tick: "json" } });
      connection.addEventListener("open", () => log.opens++);
      connection.addEventListener("error", () => log.errors++);
      connection.addEventListener("tick", (event) => {
        log.ticks.push(event.data.n);
        log.hidden.push(document.visibilityState === "hidden");
      });
      Object.assign(window, { hiddenTest: { log, connection } });
    });
    type Log = { opens: number; errors: number; ticks: number[]; hidden: boolean[] };
    const log = () =>
      page.evaluate(() => (window as unknown as { hiddenTest: { log: Log } }).hiddenTest.log);
    await page.waitForFunction(
      () => (window as unknown as { hiddenTest: { log: Log } }).hiddenTest.log.ticks.length >= 1,
    );
    // The page goes hidden, as when its user switches tabs (headless Chromium keeps every page
    // visible, so the document says so itself and fires the event; fetch-event-source closes its
    // stream on it, and reconnects when the page is shown again).
    await page.evaluate(() => {
      Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
      Object.defineProperty(document, "hidden", { value: true, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await page.waitForFunction(
      () =>
        (window as unknown as { hiddenTest: { log: Log } }).hiddenTest.log.hidden.filter(Boolean)
          .length >= 2,
      undefined,
      { timeout: 10_000 },
    );
    const seen = await log();
    expect({ opens: seen.opens, errors: seen.errors }).toEqual({ opens: 1, errors: 0 });
    expect(seen.ticks).toEqual(seen.ticks.map((_, i) => seen.ticks[0]! + i));
    await page.evaluate(() =>
      (
        window as unknown as { hiddenTest: { connection: { close(): void } } }
      ).hiddenTest.connection.close(),
    );
  });

  test("the token stream resumes after Last-Event-ID, and answers 204 once it has ended", async () => {
    // Not the browser here: fetch sends the header a reconnecting EventSource would.
    const read = async (lastEventId: string) => {
      const response = await fetch(new URL("/story", demo.url), {
        headers: { accept: "text/event-stream", "last-event-id": lastEventId },
      });
      return { status: response.status, ...parse(await response.text()) };
    };
    const resumed = await read("37");
    expect(resumed.status).toBe(200);
    const tokens = resumed.events.filter((event) => event.event === "token");
    const end = resumed.events.find((event) => event.event === "end");
    expect(tokens.map((event) => event.id)).toEqual(["38", "39", "40"]);
    expect(end?.id).toBe("41");
    const finished = await read("41");
    expect(finished.status).toBe(204);
    expect(finished.events).toEqual([]);
  });

  test("the demo page fits a phone's width: nothing scrolls sideways", async () => {
    const page = await browser.newPage({
      viewport: { width: 360, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    page.setDefaultTimeout(10_000);
    pages.push(page);
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(demo.url.href);
    await page.waitForFunction(() => window.demo.clock.ticks.length >= 1);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(innerWidth).toBe(360);
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
  });

  test("the demo page with events flowing, saved as test-results/demo.png", async () => {
    // A second tab, so the room shows two.
    const [page] = await Promise.all([openPage(), openPage()]);
    await page.waitForFunction(() => window.demo.room.tabs === 2 && window.demo.clock.opens === 1);
    await page.evaluate(async () => {
      for (const [name, text] of [
        ["ada", "Two tabs open? This reached both."],
        ["grace", "Drop the clock and watch the replay."],
      ]) {
        await fetch("/room", {
          method: "POST",
          body: new URLSearchParams({ name: name!, text: text! }),
          headers: { accept: "application/json" },
        });
      }
    });
    await page.fill("#room-name", "you");
    await page.waitForFunction(() => window.demo.clock.ticks.length >= 2);
    await page.click("#job-start");
    await page.click("#story-start");
    await page.click("#clock-drop");
    await page.waitForFunction(
      () =>
        window.demo.job.state === "done" &&
        window.demo.story.ended &&
        window.demo.clock.ticks.filter((tick) => tick.connection === 2 && !tick.replayed).length >=
          1,
      undefined,
      { timeout: 15_000 },
    );
    expect(await page.evaluate(() => window.demo.clock.lost)).toBe(0);
    await mkdir(new URL(".", SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(10_000);
  });

  test("the demo stops on SIGTERM with exit code 0, ending the open streams", async () => {
    const page = await openPage();
    await page.waitForFunction(() => window.demo.clock.opens === 1 && window.demo.room.opens === 1);
    expect(await demo.stop("SIGTERM")).toBe(0);
    expect(demo.output()).toContain("SIGTERM: closing the streams and the server");
    // The page's two streams (clock and room) at least, each ended cleanly: none aborted.
    const [, closed] = /(\d+) streams closed, 0 aborted/.exec(demo.output()) ?? [];
    expect(Number(closed)).toBeGreaterThanOrEqual(2);
    // Nothing went wrong on the server during the whole run: no error, no warning printed.
    expect(demo.output()).not.toMatch(/error|warning|unhandled/i);
    // The page's streams ended and cannot come back: the server is gone.
    await page.waitForFunction(() => window.demo.clock.errors >= 1 && window.demo.room.errors >= 1);
    // The room no longer claims a tab count it cannot know.
    const presence = page.locator("#room-presence");
    expect(await presence.textContent()).not.toMatch(/\d+ tabs? in the room/);
    expect(await presence.textContent()).toContain("Not connected");
    expect(await presence.getAttribute("data-stale")).toBe("true");
  });
});
