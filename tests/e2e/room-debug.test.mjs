// /vault/<id>/debug/recent: every field of spec 9.2 with the right types,
// traces of what happened, and nothing secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./harness.mjs";
import { connectClient, addNote, echoCount, until } from "./clients.mjs";

const TOKEN = "e2e-debug-token-0123456789abcdef";
let server;
before(async () => { server = await startServer({ vars: { SYNC_TOKEN: TOKEN } }); });
after(async () => { await server?.stop(); });

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const isIsoOrNull = (v) => v === null || ISO.test(v);
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v) => v === null || isNum(v);
const isStrOrNull = (v) => v === null || typeof v === "string";

async function debug(vault, token = TOKEN) {
  return fetch(`${server.url}/vault/${encodeURIComponent(vault)}/debug/recent`, { headers: { Authorization: `Bearer ${token}` } });
}

test("debug/recent needs the token", async () => {
  const res = await debug("debug-vault", "wrong");
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { error: "unauthorized" });
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
});

test("debug/recent returns every field of spec 9.2 with the right types", async () => {
  const vault = "debug vault/ü";
  const c = connectClient(server, vault, { token: TOKEN });
  await c.synced();
  addNote(c.doc, "notes/one.md", "one");
  addNote(c.doc, "notes/two.md", "two");
  c.doc.getMap("idToText").get("id-notes/one.md").delete(0, 1);
  await echoCount(c, 3);
  await until(c.provider, "custom-message", () => c.echoes.length >= 4, 15000, "echoes for three edits");
  const res = await debug(vault);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const body = await res.json();
  assert.deepEqual(Object.keys(body).slice(0, 7), ["roomId", "documentLoaded", "recent", "svEcho", "persistence", "documentSummary", "storage"]);
  assert.equal(body.roomId, vault);
  assert.equal(body.documentLoaded, true);
  assert.ok(isNum(body.wasmMemoryBytes) && body.wasmMemoryBytes > 0);

  assert.deepEqual(Object.keys(body.svEcho), ["baselineSent", "postApplySent", "failed", "bytesTotal", "bytesMax", "failureNotOpen", "failureOversize", "failureSendFailed"]);
  for (const v of Object.values(body.svEcho)) assert.ok(isNum(v));
  assert.ok(body.svEcho.baselineSent >= 1 && body.svEcho.postApplySent >= 3);

  const p = body.persistence;
  assert.deepEqual(Object.keys(p), [
    "status", "lastSaveStartedAt", "lastSaveSucceededAt", "lastSaveFailedAt", "lastSaveError",
    "successfulSaveCount", "failedSaveCount", "consecutiveSaveFailures", "queuedSaveCount",
    "checkpointFallbackCount", "pendingPersistence", "lastDeltaBytes", "journalEntryCount",
    "journalBytes", "lastPersistedStateVectorHash", "loadedStateVectorHash", "lastCompactionAt",
    "lastCompactionReason", "lastCompactionError", "legacyDocumentMigrated",
  ]);
  assert.equal(p.status, "healthy");
  assert.ok(ISO.test(p.lastSaveStartedAt) && ISO.test(p.lastSaveSucceededAt));
  assert.ok(isIsoOrNull(p.lastSaveFailedAt) && isStrOrNull(p.lastSaveError) && isIsoOrNull(p.lastCompactionAt));
  for (const k of ["successfulSaveCount", "failedSaveCount", "consecutiveSaveFailures", "queuedSaveCount", "checkpointFallbackCount"]) assert.ok(isNum(p[k]), k);
  for (const k of ["lastDeltaBytes", "journalEntryCount", "journalBytes"]) assert.ok(isNumOrNull(p[k]), k);
  assert.ok(p.successfulSaveCount >= 3);
  assert.equal(p.journalEntryCount, p.successfulSaveCount);
  assert.equal(typeof p.pendingPersistence, "boolean");
  assert.match(p.lastPersistedStateVectorHash, /^[0-9a-f]+$/);
  assert.equal(p.loadedStateVectorHash, "00", "a fresh room loads the empty state vector");
  assert.equal(typeof p.legacyDocumentMigrated, "boolean");

  const s = body.documentSummary;
  assert.deepEqual(Object.keys(s), [
    "activePathCount", "tombstonedPathCount", "metaCount", "pathToIdCount", "idToTextCount",
    "activePathsWithText", "activePathsMissingFromPathToId", "activePathsMissingText",
    "pathToIdWithoutActiveMeta", "schemaVersion",
  ]);
  // Schema-v3 metadata is a nested Y.Map; it still counts.
  assert.equal(s.activePathCount, 2);
  assert.equal(s.activePathsWithText, 2);
  assert.equal(s.metaCount, 2);
  assert.equal(s.schemaVersion, 3);

  assert.deepEqual(Object.keys(body.storage), ["mode", "migrationStatus", "migrationAt", "migrationDurationMs", "coldLoadDurationMs", "oversizedDeltaCount", "migrationMeta"]);
  assert.equal(body.storage.mode, "fresh");
  assert.equal(body.storage.migrationStatus, "not_started");
  assert.ok(isNum(body.storage.coldLoadDurationMs));
  assert.equal(body.storage.oversizedDeltaCount, 0);
  assert.equal(body.storage.migrationMeta, null);

  assert.ok(Array.isArray(body.recent) && body.recent.length > 0 && body.recent.length <= 100);
  for (const e of body.recent) {
    assert.ok(ISO.test(e.ts), e.ts);
    assert.equal(e.roomId, vault);
  }
  const times = body.recent.map((e) => e.ts);
  assert.deepEqual(times, [...times].sort().reverse(), "newest first");
  const events = body.recent.map((e) => e.event);
  for (const name of ["checkpoint-load", "server.save.append_succeeded"]) {
    assert.ok(events.includes(name), `${name} in ${events.join(",")}`);
  }
  // The frames a write took are described in the write's own trace (one
  // key-value row), not in an update_observed of their own.
  const written = body.recent.find((e) => e.event === "server.save.append_succeeded");
  assert.ok(isNum(written.updateBytes) && typeof written.docChanged === "boolean" && written.frames >= 1, JSON.stringify(written));
  assert.ok(isNum(written.deltaBytes) && isNum(written.pendingUpdates));
  assert.ok(!JSON.stringify(body).includes(TOKEN), "the token never appears in debug output");
  c.close();
});

test("debug on a vault nobody touched reports it unloaded without loading it", async () => {
  const res = await debug("never-touched-vault");
  const body = await res.json();
  assert.equal(body.documentLoaded, false, "debug does not load the document");
  assert.equal(body.documentSummary, null);
  assert.equal(body.storage.mode, null);
});
