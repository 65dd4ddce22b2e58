// The platform's transaction adapter (`platform::do_sql`, over the Durable
// Object's `transactionSync`) rolls back a body that fails halfway, on the
// real runtime: a compaction of a vault with a multi-chunk snapshot is made
// to fail on its second chunk insert (test-only setting
// YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT), after it deleted the old chunks and
// wrote the first new one. Nothing of it may stay: the old snapshot and the
// journal are whole, the room reloads with every acknowledged edit, and a
// later compaction without the fault succeeds. With the same fault, saves
// fail, and a reconnecting device must not be told that its unsaved edit is
// stored.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, coveringEcho, echoCount, echoedStateVector } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-rollback-token-0123456789abcdef";
const VAULT = "rollback-vault";
const base = { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "1" };
const servers = new Set();
after(async () => { for (const s of servers) await s.stop(); });

async function start(persistDir, vars = base) {
  const server = await startServer({ persistDir, vars });
  servers.add(server);
  return server;
}
async function stop(server) { await server.stop(); servers.delete(server); }

const compact = async (server) => {
  const res = await fetch(`${server.url}/vault/${VAULT}/debug/compact`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
};

test("a checkpoint whose transaction fails on its second chunk leaves the old snapshot and journal whole", { timeout: 240_000 }, async () => {
  const dir = tempDir();
  // A 3 MB note: over the 2 MiB delta limit, so it is written as a
  // checkpoint of three 1 MiB chunks.
  let server = await start(dir);
  const a = connectClient(server, VAULT, { token: TOKEN });
  await a.synced();
  const bigText = "a line of a long note\n".repeat(140_000);
  const big = addNote(a.doc, "big.md", bigText);
  await coveringEcho(a, 60_000, "the big note's echo");
  a.close();
  const seeded = await debugJson(server, VAULT, TOKEN);
  assert.ok(seeded.room.snapshotChunks >= 3, `${seeded.room.snapshotChunks} chunks`);
  await stop(server);

  // The fault on: the second chunk insert of this activation fails.
  server = await start(dir, { ...base, YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT: "2" });
  const b = connectClient(server, VAULT, { token: TOKEN });
  await b.synced();
  assert.equal(noteText(b.doc, big), bigText);
  const small = [];
  for (let i = 0; i < 3; i++) {
    small.push([addNote(b.doc, `small-${i}.md`, `small note ${i}`), `small note ${i}`]);
    await coveringEcho(b, 30_000, `small note ${i}'s echo`);
  }
  const before = await debugJson(server, VAULT, TOKEN);
  assert.equal(before.persistence.journalEntryCount, 3, "three journal rows to compact");
  const failed = await compact(server);
  assert.equal(failed.status, "failed", JSON.stringify(failed));
  assert.match(failed.error, /injected by YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT/);
  const after = await debugJson(server, VAULT, TOKEN);
  assert.equal(after.room.snapshotChunks, before.room.snapshotChunks, "the old chunks, all of them");
  assert.equal(after.room.snapshotBytes, before.room.snapshotBytes, "and their bytes");
  assert.equal(after.persistence.journalEntryCount, 3, "the journal rows stay");
  b.close();
  await stop(server);

  // Reloaded from what SQL holds: everything acknowledged is there, and a
  // compaction without the fault succeeds.
  server = await start(dir);
  const c = connectClient(server, VAULT, { token: TOKEN });
  await c.synced();
  assert.equal(noteText(c.doc, big), bigText, "the big note survived");
  for (const [id, text] of small) assert.equal(noteText(c.doc, id), text, `${text} survived`);
  c.close();
  const done = await compact(server);
  assert.equal(done.status, "compacted", JSON.stringify(done));
  assert.equal((await debugJson(server, VAULT, TOKEN)).persistence.journalEntryCount, 0);
  assert.deepEqual(server.crashLines(), []);
  await stop(server);
});

test("while saves fail, a reconnecting device's baseline echo leaves out the edit storage does not hold", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  // Every snapshot chunk insert fails: a paste over the 2 MiB delta limit
  // can only be saved as a checkpoint, so its save fails and stays pending.
  const server = await start(dir, { ...base, YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT: "1" });
  const a = connectClient(server, VAULT, { token: TOKEN });
  try {
    await a.synced();
    addNote(a.doc, "small.md", "stored in the journal");
    await coveringEcho(a, 30_000, "the small note's echo");
    const me = a.doc.clientID;
    const stored = Y.decodeStateVector(Y.encodeStateVector(a.doc)).get(me);
    addNote(a.doc, "paste.md", "a pasted line\n".repeat(170_000));
    const unsaved = Y.decodeStateVector(Y.encodeStateVector(a.doc)).get(me);
    // The failed save shows in the debug JSON (no event reaches a client).
    let info = await debugJson(server, VAULT, TOKEN);
    for (let i = 0; i < 100 && !(info.persistence.consecutiveSaveFailures >= 1); i++) {
      await new Promise((r) => setTimeout(r, 100));
      info = await debugJson(server, VAULT, TOKEN);
    }
    assert.ok(info.persistence.consecutiveSaveFailures >= 1, JSON.stringify(info.persistence));
    assert.ok(a.echoes.every((e) => (echoedStateVector(e).get(me) ?? 0) < unsaved), "no echo covered the paste");

    // The device reconnects; its new socket's baseline echo is the first
    // echo after it. The plugin would take an echo covering the paste as its
    // receipt: it must carry only what storage holds.
    const seen = a.echoes.length;
    a.provider.disconnect();
    a.provider.connect();
    await echoCount(a, seen + 1, 30_000);
    const baseline = echoedStateVector(a.echoes[seen]).get(me) ?? 0;
    assert.ok(baseline >= stored, `the stored note is covered (${baseline} >= ${stored})`);
    assert.ok(baseline < unsaved, `the unsaved paste is not (${baseline} < ${unsaved})`);
  } finally {
    a.close();
    await stop(server);
  }
});
