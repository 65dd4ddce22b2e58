// The upgrade over a deployed TypeScript server, on the layout the released
// key-value servers really left: the fixture worker (tests/legacy-writer/,
// `layout=deployed`) saves vaults the way they did (512 KiB chunks that each
// hold the whole update, one transaction per save, compactions that fail
// with SQLITE_TOOBIG past 2 MiB), claims the server and stores update
// metadata in `ServerConfig`, and leaves the old `roomMeta`, `trace:*` and
// `__ps_name` keys. Then the Rust server starts on the same storage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startServer, tempDir, ROOT } from "./harness.mjs";
import { Y, connectClient, sameContent, addNote, noteText, until, dominates, echoedStateVector } from "./clients.mjs";
import { objectFiles, inspect, isLegacyKey } from "./storage.mjs";

const OLD_TOKEN = "0ld-claim-token-0123456789abcdef0123456789abcdef0123456789abcdef";
const OLD_HASH = createHash("sha256").update(OLD_TOKEN, "utf8").digest("hex");
const UPDATE = { provider: "github", repoUrl: "https://github.com/example-owner/yaos-server", branch: "main" };
const running = new Set();
after(async () => { for (const s of running) await s.stop(); });
async function start(opts) { const s = await startServer(opts); running.add(s); return s; }
async function stop(s) { await s.stop(); running.delete(s); }

const dir = tempDir();
const written = {};
const seeded = {};
const ROOMS = {
  // Three 512 KiB chunks, then 150 one-note journal entries (compaction off:
  // the state of a server whose compaction breaker was open).
  "deployed-multi": "notes=600&journalNotes=150&perEntry=1&compact=0",
  // A stale checkpoint of 1.3 MB, then 220 entries of 20 notes: ~11 MB in all,
  // every compaction past 2 MiB refused, as production refused them.
  "deployed-large": "notes=600&journalNotes=4400&perEntry=20",
};

before(async () => {
  const writer = await start({ persistDir: dir, config: `${ROOT}/tests/legacy-writer/wrangler.toml`, readyPath: "/" });
  for (const [vault, query] of Object.entries(ROOMS)) {
    const res = await fetch(`${writer.url}/seed/${vault}?layout=deployed&${query}`, { method: "POST" });
    assert.equal(res.status, 200);
    seeded[vault] = Object.fromEntries([...res.headers].filter(([k]) => k.startsWith("x-")));
    const doc = new Y.Doc();
    Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()));
    written[vault] = doc;
  }
  const stuck = await fetch(`${writer.url}/seed/stuck-vault?layout=stuck&notes=20`, { method: "POST" });
  assert.equal(stuck.status, 200);
  written["stuck-vault"] = new Y.Doc();
  Y.applyUpdate(written["stuck-vault"], new Uint8Array(await stuck.arrayBuffer()));
  const config = await fetch(`${writer.url}/config?${new URLSearchParams({ tokenHash: OLD_HASH, ...UPDATE })}`, { method: "POST" });
  assert.equal(config.status, 200);
  await stop(writer);
});

const objectOf = (vault) => objectFiles(dir).map(inspect).find((o) => o.kv.get("__ps_name") === vault);
const legacyKeys = (o) => [...o.kv.keys()].filter(isLegacyKey).sort();
const bearer = { Authorization: `Bearer ${OLD_TOKEN}` };

async function api(server, method, vault, path) {
  const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/${path}`, { method, headers: bearer });
  return { status: res.status, body: await res.json() };
}

async function ticketClient(server, vault) {
  const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/auth/ticket`, { method: "POST", headers: bearer });
  assert.equal(res.status, 200, "the old token gets a ticket");
  const c = connectClient(server, vault, { ticket: (await res.json()).ticket });
  await c.synced();
  return c;
}

test("the fixture wrote the deployed layout: whole-update chunk values, a long journal, refused compactions", () => {
  const multi = objectOf("deployed-multi");
  const chunks = [...multi.kv.keys()].filter((k) => k.startsWith("document:checkpoint:chunk:"));
  assert.equal(chunks.length, 3, "three 512 KiB chunks");
  const full = multi.kv.get(chunks[0]);
  assert.equal(full.byteLength, 512 * 1024, "the view is one chunk long...");
  assert.ok(full.buffer.byteLength > 1_000_000, `...and its stored buffer is the whole update (${full.buffer.byteLength})`);
  assert.equal(multi.kv.get("document:journal:meta").entryCount, 150);
  const large = objectOf("deployed-large");
  assert.ok(large.kv.get("document:journal:meta").entryCount > 128);
  assert.ok(Y.encodeStateAsUpdate(written["deployed-large"]).length > 10_000_000, "a vault of 10 MB or more");
  assert.match(seeded["deployed-large"]["x-last-error"], /SQLITE_TOOBIG/);
  const checkpoint = large.kv.get(`document:checkpoint:manifest:${large.kv.get("document:checkpoint:current").version}`);
  assert.ok(checkpoint.byteLength < 2 * 1024 * 1024, "the stale checkpoint is under 2 MiB");
  for (const o of [multi, large]) {
    assert.equal(o.kv.get("roomMeta").schemaVersion, 2);
    assert.ok([...o.kv.keys()].some((k) => k.startsWith("trace:")));
  }
});

test("the upgrade keeps the claim, the old token and its update metadata", async () => {
  const server = await start({ persistDir: dir });
  const caps = await (await fetch(`${server.url}/api/capabilities`)).json();
  assert.equal(caps.claimed, true);
  assert.equal(caps.authMode, "claim");
  assert.equal(caps.updateProvider, null, "the update fields are private");
  const mine = await (await fetch(`${server.url}/api/capabilities`, { headers: bearer })).json();
  assert.equal(mine.updateProvider, UPDATE.provider);
  assert.equal(mine.updateRepoUrl, UPDATE.repoUrl);
  assert.equal(mine.updateRepoBranch, UPDATE.branch);
  const claim = (token) => fetch(`${server.url}/claim`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token, vaultId: "another-vault-id" }) });
  const intruder = await claim("intruder-token-0123456789abcdef0123456789abcdef");
  assert.equal(intruder.status, 403);
  assert.deepEqual(await intruder.json(), { error: "already_claimed" });
  assert.equal((await claim(OLD_TOKEN)).status, 200, "the owner's own claim repeats");
  const denied = await fetch(`${server.url}/vault/x/auth/ticket`, { method: "POST", headers: { Authorization: "Bearer intruder-token-0123456789abcdef0123456789abcdef" } });
  assert.equal(denied.status, 401);
  await stop(server);
});

test("deployed-layout rooms migrate to the written document, kv-migrated then sql, legacy keys kept until cleanup-kv", async () => {
  const before = Object.fromEntries(Object.keys(ROOMS).map((v) => [v, legacyKeys(objectOf(v))]));
  let server = await start({ persistDir: dir, vars: { YAOS_ENABLE_ADMIN_ROUTES: "1" } });
  for (const vault of Object.keys(ROOMS)) {
    const c = await ticketClient(server, vault);
    assert.ok(sameContent(c.doc, written[vault]), `${vault}: the client receives the document that was written`);
    // The room is writable and stores what it acknowledges.
    const id = addNote(c.doc, "after-upgrade.md", "written after the upgrade");
    written[vault].liveSchema = c.doc.getMap("sys").get("schemaVersion");
    await until(c.provider, "custom-message", () => c.echoes.length >= 2, 20000, "the edit's echo");
    c.close();
    const { body } = await api(server, "GET", vault, "debug/recent");
    assert.equal(body.roomId, vault, "named from the old __ps_name");
    assert.equal(body.storage.mode, "kv-migrated");
    assert.equal(body.storage.migrationStatus, "migrated");
    const events = body.recent.map((e) => e.event);
    assert.ok(events.includes("kv-to-sql-migration"), events.join(","));
    assert.ok(events.includes("server.checkpoint.failed"), "the old server's traces are read alongside");
    written[vault].afterUpgrade = id;
  }
  await stop(server);
  for (const vault of Object.keys(ROOMS)) {
    const o = objectOf(vault);
    assert.deepEqual(legacyKeys(o), before[vault], `${vault}: every legacy key kept for rollback`);
    // The old roomMeta (schema 2) is replaced by one for the live schema.
    assert.equal(o.kv.get("roomMeta").schemaVersion, written[vault].liveSchema);
    assert.equal(typeof o.kv.get("roomMeta").updatedAt, "string");
  }

  server = await start({ persistDir: dir, vars: { YAOS_ENABLE_ADMIN_ROUTES: "1" } });
  for (const vault of Object.keys(ROOMS)) {
    const c = await ticketClient(server, vault);
    assert.equal(noteText(c.doc, written[vault].afterUpgrade), "written after the upgrade");
    c.close();
    const { body } = await api(server, "GET", vault, "debug/recent");
    assert.equal(body.storage.mode, "sql");
    const cleaned = await api(server, "POST", vault, "debug/cleanup-kv");
    assert.equal(cleaned.body.status, "cleaned");
    assert.equal(cleaned.body.keysDeleted, before[vault].length);
  }
  await stop(server);
  for (const vault of Object.keys(ROOMS)) {
    const o = objectOf(vault);
    assert.deepEqual(legacyKeys(o), []);
    assert.equal(o.kv.get("__ps_name"), vault);
  }
});

test("a vault stuck read-only by a failed resume: repair-migration is admin-only, dry-runs without confirm, then repairs it", async () => {
  const vault = "stuck-vault";
  const repair = (server, body) => fetch(`${server.url}/vault/${vault}/debug/repair-migration`, { method: "POST", headers: bearer, body: JSON.stringify(body) });
  let server = await start({ persistDir: dir });
  assert.equal((await repair(server, { confirm: true })).status, 404, "refused without YAOS_ENABLE_ADMIN_ROUTES");
  await stop(server);

  const legacyBefore = legacyKeys(objectOf(vault));
  server = await start({ persistDir: dir, vars: { YAOS_ENABLE_ADMIN_ROUTES: "1" } });
  const a = await ticketClient(server, vault);
  let info = (await api(server, "GET", vault, "debug/recent")).body;
  assert.equal(info.storage.mode, "kv-fallback", "stuck read-only");
  const dry = await (await repair(server, {})).json();
  assert.equal(dry.status, "dry_run");
  assert.equal(dry.applicable, true);
  assert.equal(dry.mergedActivePaths, 21, "20 legacy notes and the one only SQL has");
  assert.ok(dry.steps.length >= 3);
  info = (await api(server, "GET", vault, "debug/recent")).body;
  assert.equal(info.storage.mode, "kv-fallback", "the dry run changed nothing");

  const done = await (await repair(server, { confirm: true })).json();
  assert.equal(done.status, "repaired");
  // The room reloads from the repaired SQL: a client's edit is acknowledged again.
  const id = addNote(a.doc, "after-repair.md", "written after the repair");
  const mine = Y.decodeStateVector(Y.encodeStateVector(a.doc));
  await until(a.provider, "custom-message", () => a.echoes.some((e) => dominates(echoedStateVector(e), mine)), 20000, "an echo covering the edit");
  info = (await api(server, "GET", vault, "debug/recent")).body;
  assert.equal(info.storage.mode, "sql");
  assert.equal((await (await repair(server, {})).json()).status, "not_applicable");
  a.close();
  await stop(server);
  assert.deepEqual(legacyKeys(objectOf(vault)), legacyBefore, "the legacy keys are kept");

  server = await start({ persistDir: dir });
  const b = await ticketClient(server, vault);
  for (const [k, v] of written[vault].getMap("idToText")) assert.equal(b.doc.getMap("idToText").get(k)?.toString(), v.toString(), k);
  assert.equal(noteText(b.doc, id), "written after the repair");
  b.close();
  await stop(server);
});
