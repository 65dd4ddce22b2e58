// The platform's transaction adapter (`platform::do_sql`, over the Durable
// Object's `transactionSync`) rolls back a body that fails halfway, on the
// real runtime: a compaction of a vault with a multi-chunk snapshot is made
// to fail on its second chunk insert (test-only setting
// YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT), after it deleted the old chunks and
// wrote the first new one. Nothing of it may stay: the old snapshot and the
// journal are whole, the room reloads with every acknowledged edit, and a
// later compaction without the fault succeeds.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.mjs";
import { connectClient, addNote, noteText, coveringEcho } from "./clients.mjs";
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
