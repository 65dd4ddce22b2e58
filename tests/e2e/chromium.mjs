// Debian's headless Chromium for the page tests (playwright-core drives it):
// one persistent profile per test file in a temporary directory, with the
// page errors and console errors (a CSP violation, a script error) of every
// page it opens collected, so a test can assert there were none.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { tempDir, ROOT } from "./harness.mjs";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = join(ROOT, "tests", "e2e", "artifacts");
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Launches Chromium at 1280×900; `close()` ends it and removes its profile. */
export async function launchChromium(prefix) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = tempDir(prefix);
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 }, timeout: 60000 });
  browser.setDefaultTimeout(15000);
  const pageErrors = [];
  const consoleErrors = [];
  browser.on("page", (page) => {
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico") && !/Failed to load resource/.test(msg.text())) consoleErrors.push(msg.text());
    });
  });
  return {
    browser,
    pageErrors,
    consoleErrors,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
