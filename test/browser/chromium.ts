import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium, installed by scripts/setup.d/20-chromium.sh; never a Playwright download. */
export const CHROMIUM = "/usr/bin/chromium";

/** Starts a headless Chromium with a fresh profile and nothing that phones home. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Cannot run the browser tests: ${CHROMIUM} is missing. Install it with ` +
        "`bash scripts/setup.d/20-chromium.sh` (as root), which `npm test` runs first",
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
