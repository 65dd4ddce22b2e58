// The vault status page (GET /status) in Debian's headless Chromium, against
// a real vault under wrangler dev: the values it shows are the debug JSON's,
// a hostile value from the vault is shown as text, the token stays out of the
// URL and out of localStorage, the snapshot list and "take snapshot now"
// work, and the error states read clearly (401, 503 unclaimed, an unknown
// vault, a network error). Screenshots at 1280 and 390 px wide go to
// tests/e2e/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "./harness.mjs";
import { launchChromium, ARTIFACTS } from "./chromium.mjs";
import WebSocket from "ws";
import { connectClient, addNote, echoCount, until } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-status-token-0123456789abcdef0123";
const VAULT = "status-vault";
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;

let server, browser, chrome, client, pageErrors, consoleErrors;

before(async () => {
  [server, chrome] = await Promise.all([startServer({ vars: { SYNC_TOKEN: TOKEN } }), launchChromium("yaos-chromium-status-")]);
  ({ browser, pageErrors, consoleErrors } = chrome);
});

after(async () => {
  client?.close();
  await chrome?.close();
  await server?.stop();
});

/** The text of the <dd> after the <dt> labelled `label` in list `id`. */
function value(page, id, label) {
  return page.evaluate(([id, label]) => {
    const dt = [...document.querySelectorAll(`#${id} dt`)].find((d) => d.textContent === label);
    return dt ? dt.nextElementSibling.textContent : null;
  }, [id, label]);
}

async function open(page, vault, token, at = server) {
  await page.goto(`${at.url}/status`);
  await page.fill("#vault-id", vault);
  await page.fill("#token", token);
  await page.click("#load");
}

test("the status page shows a vault's debug JSON, hostile values as text, and snapshots", { timeout: 120000 }, async () => {
  client = connectClient(server, VAULT, { token: TOKEN });
  await client.synced();
  for (let i = 0; i < 3; i++) addNote(client.doc, `notes/${i}.md`, `note ${i}`);
  await echoCount(client, 2);
  // A value the server stores from a request: the snapshot's `device`,
  // which lands in the trace list.
  const snap = await fetch(`${server.url}/vault/${VAULT}/snapshots`, {
    method: "POST", headers: { Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ device: HOSTILE }),
  });
  assert.equal(snap.status, 200);

  // A refusal the plugin would ignore: full-state requests past one
  // socket's budget (4 a minute by default), from a named device.
  const raw = new WebSocket(`${server.wsUrl}/vault/sync/${VAULT}?schemaVersion=3&token=${TOKEN}&device=${encodeURIComponent(HOSTILE)}`);
  const texts = [];
  raw.on("message", (data, isBinary) => { if (!isBinary) texts.push(data.toString()); });
  await new Promise((resolve, reject) => { raw.once("open", resolve); raw.once("error", reject); });
  for (let i = 0; i < 5; i++) raw.send(Buffer.from([0, 0, 1, 0]));
  await until({ on: (e, f) => raw.on("message", f), off: (e, f) => raw.off("message", f) }, "message",
    () => texts.some((t) => t.includes("limit_exceeded")), 15000, "the refusal");
  raw.close();

  const page = await browser.newPage();
  await open(page, VAULT, TOKEN);
  await page.waitForSelector("#report:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#snapshots tbody tr"));
  const debug = await debugJson(server, VAULT, TOKEN);

  // The refusal is on the page, visibly, device name as text.
  assert.equal(debug.refusedFrames.count, 1);
  assert.equal(await page.isVisible("#refused-section"), true);
  assert.match(await page.textContent("#refused-text"), /^1 frame\(s\) refused/);
  const refusedRow = await page.textContent("#refused tbody tr");
  assert.ok(refusedRow.includes(HOSTILE.slice(0, 40)), refusedRow);
  assert.match(refusedRow, /full sync requests/);

  assert.equal(await value(page, "sizes", "Journal entries"), String(debug.persistence.journalEntryCount));
  assert.equal(await value(page, "storage", "Mode"), debug.storage.mode);
  assert.equal(await value(page, "saves", "Health"), "healthy");
  assert.equal(Number(await page.getAttribute("#wasm-meter", "value")), debug.wasmMemoryBytes);
  assert.match(await page.textContent("#wasm-text"), new RegExp(`${(debug.wasmMemoryBytes / 1e6).toFixed(1)} MB of the isolate's 128 MB`));
  // The day's billed rows as a bar against the free plan's limit.
  assert.match(await page.textContent("#rows-text"), /^\d+ of the free plan's 100000 SQL rows written a day \(\d{4}-\d{2}-\d{2}, UTC\)/);
  assert.ok(Number(await page.getAttribute("#rows-meter", "value")) > 0, "the vault's writes are counted");
  assert.equal(await value(page, "budget", "Commit window"), `${debug.budget.commitWindowMs} ms`);
  assert.equal(await page.isVisible("#quota-text"), false, "no quota refusal shown");
  assert.equal(await value(page, "connections", "Open sockets"), String(debug.room.openSockets));
  assert.equal(await value(page, "connections", "Awareness clients"), String(debug.room.awarenessClients));

  // The hostile value is in a table cell, as text; nothing of it ran or rendered.
  const traces = await page.textContent("#traces");
  // The snapshot's `device` is kept to its first 64 characters (MAX_SNAPSHOT_DEVICE_CHARS).
  const stored = HOSTILE.slice(0, 64);
  assert.ok(traces.includes(stored.replace(/"/g, '\\"')) || traces.includes(stored), traces.slice(0, 500));
  assert.equal(await page.evaluate(() => document.querySelectorAll("script").length), 1);
  assert.equal(await page.evaluate(() => document.querySelectorAll("img").length), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  // The token: in this tab's session storage only.
  assert.ok(!page.url().includes(TOKEN));
  assert.equal(await page.evaluate(() => sessionStorage.getItem("yaos-status-token")), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0);

  // Snapshots: listed, and one more taken from the page.
  const before = await page.locator("#snapshots tbody tr").count();
  assert.ok(before >= 1);
  await page.click("#take-snapshot");
  await page.waitForFunction((n) => document.querySelectorAll("#snapshots tbody tr").length > n, before);
  assert.match(await page.textContent("#snapshot-message"), /created/);

  await page.screenshot({ path: join(ARTIFACTS, "status-page-1280.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, "status-page-390.png"), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow} px wider than a 390 px phone`);
  await page.close();
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, [], "no CSP violation or script error");
});

test("the status page's error states: 401, an unknown vault, 503 unclaimed, a network error", { timeout: 120000 }, async () => {
  const page = await browser.newPage();
  await open(page, VAULT, "not-the-token-0123456789abcdef0123");
  await page.waitForFunction(() => document.querySelector("#message").dataset.state === "error");
  assert.match(await page.textContent("#message"), /401/);
  assert.equal(await page.isHidden("#report"), true);

  await open(page, "never-used-vault-id", TOKEN);
  await page.waitForFunction(() => /Unknown vault/.test(document.querySelector("#message").textContent));

  // An unclaimed server (no SYNC_TOKEN, never claimed).
  const unclaimed = await startServer();
  try {
    await page.goto(`${unclaimed.url}/status`);
    await page.fill("#vault-id", VAULT);
    await page.fill("#token", TOKEN);
    await page.click("#load");
    await page.waitForFunction(() => document.querySelector("#message").dataset.state === "error");
    assert.match(await page.textContent("#message"), /not been claimed yet \(503 unclaimed\)/);
  } finally {
    await unclaimed.stop();
  }
  // The unclaimed server is gone: the same page now meets a network error.
  await page.click("#load");
  await page.waitForFunction(() => /network error/.test(document.querySelector("#message").textContent));
  await page.close();
});

test("the status page says plainly when the platform refuses writes for its daily quota", { timeout: 120000 }, async () => {
  // Every document write refused for the whole test (the SQL seam's
  // test-only quota refusals), as after the free plan's rows run out.
  const refusing = await startServer({ vars: { SYNC_TOKEN: TOKEN, YAOS_TEST_QUOTA_REFUSALS: "1000000" } });
  const writer = connectClient(refusing, VAULT, { token: TOKEN });
  try {
    await writer.synced();
    addNote(writer.doc, "refused.md", "not stored today");
    let debug;
    for (let i = 0; i < 100 && !debug?.budget?.quotaExceeded; i++) debug = await debugJson(refusing, VAULT, TOKEN); // bounded: the frame's turn is the server's
    assert.ok(debug.budget.quotaExceeded, JSON.stringify(debug.budget));
    const page = await browser.newPage();
    await open(page, VAULT, TOKEN, refusing);
    await page.waitForSelector("#report:not([hidden])");
    assert.equal(await page.isVisible("#quota-text"), true);
    const text = await page.textContent("#quota-text");
    assert.match(text, /^Cloudflare is refusing writes: the account's daily allowance is used up/);
    assert.ok(text.includes(debug.budget.quotaExceeded.liftsAt), text);
    assert.match(text, /Edits still reach the other devices, but none is stored or acknowledged/);
    assert.equal(await value(page, "saves", "Health"), "degraded");
    await page.screenshot({ path: join(ARTIFACTS, "status-quota.png"), fullPage: true });
    await page.close();
  } finally {
    writer.close();
    await refusing.stop();
  }
});

test("the status page's Devices table says who is up to date and who misses changes, at 1280 and 390 px", { timeout: 120000 }, async () => {
  const vault = "status-devices-vault";
  const laptop = connectClient(server, vault, { token: TOKEN, device: "laptop" });
  const phone = connectClient(server, vault, { token: TOKEN });
  // Named as the plugin names itself without debug tracing: its awareness.
  phone.provider.awareness.setLocalStateField("user", { name: "phone <b>of mine</b>", color: "#30bced" });
  try {
    await Promise.all([laptop.synced(), phone.synced()]);
    addNote(laptop.doc, "first.md", "both have this");
    await echoCount(laptop, 2);
    phone.close();
    // The server sees the phone leave before the laptop writes again
    // (otherwise the phone, still connected, receives the note). Bounded.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${server.url}/vault/${vault}/devices`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const { devices } = await res.json();
      if (devices.some((d) => d.device.startsWith("phone") && !d.connected)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    addNote(laptop.doc, "later.md", "only the laptop has this");
    await echoCount(laptop, 3);
    const page = await browser.newPage();
    await open(page, vault, TOKEN);
    await page.waitForFunction(() => document.querySelectorAll("#devices tbody tr").length === 2);
    const rows = await page.$$eval("#devices tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    const byName = Object.fromEntries(rows.map((r) => [r[0], r]));
    assert.deepEqual(Object.keys(byName).sort(), ["laptop", "phone <b>of mine</b>"], JSON.stringify(rows));
    assert.equal(byName.laptop[1], "connected, up to date");
    assert.match(byName["phone <b>of mine</b>"][1], /^missing 1 note\(s\) changed since \d+ s ago: later\.md$/);
    assert.equal(await page.evaluate(() => document.querySelectorAll("#devices b").length), 0, "the name is text, not markup");
    await page.screenshot({ path: join(ARTIFACTS, "status-devices-1280.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await page.isVisible("#devices"), true);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at 390 px`);
    await page.screenshot({ path: join(ARTIFACTS, "status-devices-390.png"), fullPage: true });
    await page.close();
  } finally {
    laptop.close();
    phone.close();
  }
});
