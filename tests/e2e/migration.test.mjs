// The one-time key-value-to-SQL migration against real structured-clone
// data: a JavaScript fixture worker with the deployed names writes legacy
// state on a persist directory, then the Rust server starts on it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, ROOT } from "./harness.mjs";
import WebSocket from "ws";
import { Y, connectClient, sameContent } from "./clients.mjs";
import { objectFiles, inspect, isLegacyKey } from "./storage.mjs";

const TOKEN = "e2e-migration-token-0123456789abcdef";
const running = new Set();
after(async () => { for (const s of running) await s.stop(); });

async function start(opts) { const s = await startServer(opts); running.add(s); return s; }
async function stop(s) { await s.stop(); running.delete(s); }

const dir = tempDir();
const written = {};

/** Seeds the rooms with the legacy writer, then stops it. */
before(async () => {
  const writer = await start({ persistDir: dir, config: `${ROOT}/tests/legacy-writer/wrangler.toml`, readyPath: "/" });
  for (const [vault, layout] of [["mig-vault", "checkpoint-journal"], ["doc-vault", "document-only"], ["bad-vault", "bad-hash"]]) {
    const res = await fetch(`${writer.url}/seed/${vault}?layout=${layout}`, { method: "POST" });
    assert.equal(res.status, 200);
    const doc = new Y.Doc();
    Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()));
    written[vault] = doc;
  }
  await stop(writer);
});

const objectOf = (vault) => objectFiles(dir).map(inspect).find((o) => o.kv.get("__ps_name") === vault);
const legacyKeys = (o) => [...o.kv.keys()].filter(isLegacyKey).sort();

async function api(server, method, vault, path) {
  const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/${path}`, { method, headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  try { return { status: res.status, body: JSON.parse(text) }; } catch { throw new Error(`${method} ${path}: ${res.status} ${text}`); }
}

test("the fixture wrote legacy state: chunked checkpoint + journal, a document key, a bad hash", () => {
  const files = objectFiles(dir).map(inspect);
  assert.equal(files.length, 3);
  const chunked = files.find((o) => o.kv.has("document:journal:meta"));
  const chunks = [...chunked.kv.keys()].filter((k) => k.startsWith("document:checkpoint:chunk:"));
  assert.ok(chunks.length >= 3, `several 64 KiB chunks (${chunks.length})`);
  assert.ok(files.some((o) => o.kv.has("document") && o.kv.size === 1));
});

test("the Rust server migrates verifiably, keeps the legacy keys until cleanup, and reports it", async () => {
  const before = new Map(objectFiles(dir).map(inspect).map((o) => [o.file, legacyKeys(o)]));
  let server = await start({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "1" } });

  for (const vault of ["mig-vault", "doc-vault"]) {
    const c = connectClient(server, vault, { token: TOKEN });
    await c.synced();
    assert.ok(sameContent(c.doc, written[vault]), `${vault}: the client receives the document that was written`);
    c.close();
    const { body } = await api(server, "GET", vault, "debug/recent");
    assert.equal(body.storage.mode, "kv-migrated");
    assert.equal(body.storage.migrationStatus, "migrated");
    assert.ok(typeof body.storage.migrationAt === "string" && typeof body.storage.migrationDurationMs === "number");
    const meta = body.storage.migrationMeta;
    assert.equal(meta.migration_completed, "true");
    assert.equal(meta.source_format, vault === "doc-vault" ? "legacy+kv" : "kv");
    for (const k of ["migrated_at", "source_entries", "source_bytes", "snapshot_bytes", "active_path_count"]) assert.ok(k in meta, k);
    assert.equal(meta.active_path_count, "80", "80 live notes in both layouts");
    assert.equal(body.persistence.legacyDocumentMigrated, vault === "doc-vault");
    assert.ok(body.recent.some((e) => e.event === "kv-to-sql-migration"));
  }

  // The corrupted room: a clear error, nothing written to SQL, nothing deleted.
  const status = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.wsUrl}/vault/sync/bad-vault?schemaVersion=3&token=${TOKEN}`);
    ws.on("unexpected-response", (_req, res) => { res.resume(); resolve(res.statusCode); });
    ws.on("open", () => { ws.close(); reject(new Error("a corrupted room must not accept the socket")); });
    ws.on("error", () => {});
  });
  assert.equal(status, 500);
  const bad = await api(server, "GET", "bad-vault", "debug/recent");
  assert.equal(bad.body.documentLoaded, false);
  const failure = bad.body.recent.map((e) => JSON.stringify(e)).join("\n");
  assert.match(failure, /document:checkpoint/, "the error names the key");
  assert.match(failure, /sha-?256/i, "the error names the rule");
  await stop(server);

  let after = objectFiles(dir).map(inspect);
  const badObj = after.find((o) => o.kv.get("__ps_name") === "bad-vault");
  assert.equal(badObj.snapshotChunks + badObj.journalRows, 0, "nothing written to SQL for the corrupted room");
  assert.deepEqual(legacyKeys(badObj), before.get(badObj.file), "nothing deleted from the corrupted room");
  const mig = after.find((o) => o.kv.get("__ps_name") === "mig-vault");
  assert.ok(mig.snapshotChunks > 0 && mig.migrationMeta.migration_completed === "true");
  assert.deepEqual(legacyKeys(mig), before.get(mig.file), "legacy keys kept for rollback");
  const docObj = after.find((o) => o.kv.get("__ps_name") === "doc-vault");
  assert.equal(docObj.kv.has("document"), false, "the oldest document key is removed after a verified migration");

  // After a restart the room loads from SQL.
  server = await start({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "1" } });
  const c = connectClient(server, "mig-vault", { token: TOKEN });
  await c.synced();
  assert.ok(sameContent(c.doc, written["mig-vault"]));
  c.close();
  let debug = (await api(server, "GET", "mig-vault", "debug/recent")).body;
  assert.equal(debug.storage.mode, "sql");
  assert.equal(debug.storage.migrationStatus, "already_sql");
  assert.equal(debug.storage.migrationMeta.migration_completed, "true");

  // Cleanup refuses where SQL is empty, removes legacy keys where it is not.
  const refused = await api(server, "POST", "bad-vault", "debug/cleanup-kv");
  assert.equal(refused.status, 200);
  assert.equal(refused.body.status, "aborted");
  assert.equal(refused.body.keysDeleted, 0);
  const cleaned = await api(server, "POST", "mig-vault", "debug/cleanup-kv");
  assert.equal(cleaned.status, 200);
  assert.equal(cleaned.body.status, "cleaned");
  assert.equal(cleaned.body.keysDeleted, before.get(mig.file).length);
  assert.equal((await api(server, "POST", "mig-vault", "debug/cleanup-kv")).body.status, "noop");
  const compacted = await api(server, "POST", "mig-vault", "debug/compact");
  assert.equal(compacted.body.status, "noop");
  await stop(server);

  after = objectFiles(dir).map(inspect);
  assert.deepEqual(legacyKeys(after.find((o) => o.kv.get("__ps_name") === "mig-vault")), []);
  assert.ok(legacyKeys(after.find((o) => o.kv.get("__ps_name") === "bad-vault")).length > 0);
});

test("with YAOS_ENABLE_ADMIN_ROUTES unset both admin routes answer 404", async () => {
  const server = await start({ persistDir: tempDir(), vars: { SYNC_TOKEN: TOKEN } });
  for (const path of ["debug/compact", "debug/cleanup-kv"]) {
    const { status, body } = await api(server, "POST", "any-vault", path);
    assert.equal(status, 404);
    assert.deepEqual(body, { error: "not found" });
  }
  const unauth = await fetch(`${server.url}/vault/any-vault/debug/compact`, { method: "POST" });
  assert.equal(unauth.status, 401, "auth is checked at the Worker first");
  await stop(server);
});
