// The setup pages in a real browser (Debian's headless Chromium driven by
// playwright-core): claiming from `GET /`, the setup link, QR code and manual
// fields it shows, the mobile setup page reading its URL fragment, and the
// running page once claimed (spec 6.1, 6.2). A screenshot of the claimed page
// goes to tests/e2e/artifacts/ for a person to look at.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, tempDir, ROOT } from "./harness.mjs";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "tests", "e2e", "artifacts");
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let server, context, profile;
/** What the pages did: uncaught errors, console errors (CSP violations among them), and every request. */
const pageErrors = [];
const consoleErrors = [];
const requests = [];
/** Values from the claim, used by the later tests. */
const claimed = {};

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  profile = tempDir("yaos-chromium-");
  [server, context] = await Promise.all([
    startServer(),
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: ARGS,
      viewport: { width: 900, height: 1100 }, timeout: 60000,
    }),
  ]);
  context.setDefaultTimeout(15000);
  context.on("page", watch);
  for (const page of context.pages()) watch(page);
});

function watch(page) {
  page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  page.on("console", (msg) => {
    // The browser's own favicon probe gets the spec's 404 (there is no icon).
    if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico")) consoleErrors.push(`${page.url()}: ${msg.text()} (${msg.location().url})`);
  });
  page.on("request", (req) => requests.push(req.url()));
}

after(async () => {
  await context?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("claiming from GET / shows a working setup link, a QR code and the manual fields", { timeout: 60000 }, async () => {
  const page = await context.newPage();
  const res = await page.goto(`${server.url}/`);
  assert.equal(res.status(), 200);
  assert.equal(await page.title(), "Claim YAOS Server");
  assert.equal(await page.textContent("#origin"), server.url);
  assert.equal(await page.isVisible("#setup-view"), false, "setup steps hidden before the claim");
  await page.screenshot({ path: join(ARTIFACTS, "claim-page.png"), fullPage: true });

  const claimAnswer = page.waitForResponse((r) => r.url() === `${server.url}/claim` && r.request().method() === "POST");
  await page.click("#claim-button");
  assert.equal((await claimAnswer).status(), 200);
  await page.waitForSelector("#setup-view", { state: "visible" });
  assert.equal(await page.isVisible("#claim-view"), false);
  assert.equal(await page.textContent("#claim-error"), "");

  // Step 2 is locked until the plugin is confirmed installed.
  assert.equal(await page.getAttribute("#setup-link", "aria-disabled"), "true");
  assert.match(await page.getAttribute("#step-connect", "class"), /\blocked\b/);
  await page.check("#installed-checkbox");
  assert.equal(await page.getAttribute("#setup-link", "aria-disabled"), "false");
  assert.doesNotMatch(await page.getAttribute("#step-connect", "class"), /\blocked\b/);

  const href = await page.getAttribute("#setup-link", "href");
  assert.match(href, /^obsidian:\/\/yaos\?action=setup&host=/);
  const params = new URL(href).searchParams;
  assert.deepEqual([...params.keys()], ["action", "host", "token", "vaultId"]);
  assert.equal(params.get("host"), server.url);
  const token = params.get("token");
  const vaultId = params.get("vaultId");
  assert.match(token, /^[0-9a-f]{64}$/, "32 random bytes as hex");
  assert.match(vaultId, /^[A-Za-z0-9_-]{22}$/, "16 random bytes as base64url");
  Object.assign(claimed, { token, vaultId, host: params.get("host") });

  // The manual fields hold the same values.
  assert.equal(await page.inputValue("#manual-host"), server.url);
  assert.equal(await page.inputValue("#manual-token"), token);
  assert.equal(await page.inputValue("#manual-vault"), vaultId);

  // The QR code is an inline <svg>, drawn at least 240 px wide, shown square.
  assert.equal(await page.locator("#qr svg").count(), 1);
  assert.equal(await page.locator("#qr svg script").count(), 0);
  assert.ok(Number(await page.getAttribute("#qr svg", "width")) >= 240);
  const box = await page.locator("#qr svg").boundingBox();
  assert.ok(box && box.width >= 200 && Math.abs(box.width - box.height) < 1, `QR box ${JSON.stringify(box)}`);

  // The token from the link authenticates against the API.
  const ticket = await fetch(`${server.url}/vault/${encodeURIComponent(vaultId)}/auth/ticket`, {
    method: "POST", headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(ticket.status, 200);
  const body = await ticket.json();
  assert.equal(typeof body.ticket, "string");
  claimed.ticket = body.ticket;
  const caps = await (await fetch(`${server.url}/api/capabilities`)).json();
  assert.equal(caps.claimed, true);
  assert.equal(caps.authMode, "claim");

  await page.click("details > summary"); // open the manual section for the picture
  await page.screenshot({ path: join(ARTIFACTS, "claimed-page.png"), fullPage: true });
  await page.close();
});

test("the mobile setup page fills the fields from the fragment, links to Obsidian and clears the fragment", { timeout: 60000 }, async () => {
  assert.ok(claimed.token, "needs the claim test");
  let page = await context.newPage();
  // The plugin's and the QR code's link; one trailing slash on host is dropped.
  const fragment = new URLSearchParams({ host: `${claimed.host}/`, token: claimed.token, vaultId: claimed.vaultId });
  const res = await page.goto(`${server.url}/mobile-setup#${fragment}`);
  assert.equal(res.status(), 200);
  assert.equal(await page.title(), "Connect YAOS");
  assert.equal(await page.inputValue("#manual-host"), claimed.host);
  assert.equal(await page.inputValue("#manual-token"), claimed.token);
  assert.equal(await page.inputValue("#manual-vault"), claimed.vaultId);
  const expected = "obsidian://yaos?" + new URLSearchParams({ action: "setup", host: claimed.host, token: claimed.token, vaultId: claimed.vaultId });
  assert.equal(await page.getAttribute("#connect-link", "href"), expected);
  assert.equal(await page.getAttribute("#connect-link", "aria-disabled"), "false");
  assert.equal(await page.isVisible("#setup-error"), false);
  assert.equal(await page.evaluate(() => location.hash), "", "the token leaves the address bar");
  assert.equal(page.url(), `${server.url}/mobile-setup`);
  await page.screenshot({ path: join(ARTIFACTS, "mobile-setup-page.png"), fullPage: true });

  // An incomplete link shows the re-scan error and no link (a fresh page:
  // a fragment-only change would not reload this one).
  await page.close();
  page = await context.newPage();
  await page.goto(`${server.url}/mobile-setup#${new URLSearchParams({ host: claimed.host, token: claimed.token })}`);
  await page.waitForSelector("#setup-error", { state: "visible" });
  assert.match(await page.textContent("#setup-error"), /re-scan/);
  assert.equal(await page.getAttribute("#connect-link", "href"), null);
  assert.equal(await page.getAttribute("#connect-link", "aria-disabled"), "true");
  await page.close();

  // A link whose host is another server is refused: no fields, no link, a
  // warning naming both, and the token leaves the address bar.
  for (const host of ["https://evil.example", `${claimed.host}.evil.example`, "not a url"]) {
    page = await context.newPage();
    await page.goto(`${server.url}/mobile-setup#${new URLSearchParams({ host, token: claimed.token, vaultId: claimed.vaultId })}`);
    await page.waitForSelector("#setup-error", { state: "visible" });
    const message = await page.textContent("#setup-error");
    assert.ok(message.includes(host) && message.includes(server.url) && /do not use it/.test(message), message);
    assert.equal(await page.getAttribute("#connect-link", "href"), null, host);
    assert.equal(await page.inputValue("#manual-token"), "", "the token is not shown");
    assert.equal(await page.evaluate(() => location.hash), "");
    if (host === "https://evil.example") await page.screenshot({ path: join(ARTIFACTS, "mobile-setup-foreign-host.png"), fullPage: true });
    await page.close();
  }
});

test("GET / after the claim is the running page", { timeout: 60000 }, async () => {
  const page = await context.newPage();
  const res = await page.goto(`${server.url}/`);
  assert.equal(res.status(), 200);
  assert.equal(await page.title(), "YAOS Server Running");
  assert.match(await page.textContent("h1"), /online/);
  assert.match(await page.textContent("#auth-mode"), /claimed and is locked/);
  assert.equal(await page.textContent("#badge-text-sync"), "Text Sync: ON");
  assert.equal(await page.textContent("#badge-attachments"), "Attachments: ON");
  assert.equal(await page.textContent("#badge-snapshots"), "Snapshots: ON");
  assert.equal(await page.locator("#claim-button").count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, "running-page.png"), fullPage: true });
  await page.close();
});

test("the pages loaded nothing from elsewhere, threw nothing, and the server logged no secret", async () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, [], "no console errors (a CSP violation would be one)");
  assert.ok(requests.length >= 4);
  for (const url of requests) assert.ok(url.startsWith(`${server.url}/`) || url.startsWith("data:"), url);
  const hash = createHash("sha256").update(claimed.token ?? "", "utf8").digest("hex");
  for (const secret of [claimed.token, hash, claimed.ticket]) {
    assert.ok(secret && !server.output.includes(secret), "secret in the server output");
  }
});
