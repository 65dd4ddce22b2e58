// The platform refuses writes for its daily quota (the free plan's rows
// written used up). Simulated through the SQL seam: YAOS_TEST_QUOTA_REFUSALS
// makes the first N document writes fail with an error shaped like the
// platform's. While they are refused the room keeps relaying edits,
// acknowledges none of them, and says so in the debug JSON's budget; then,
// with no new edit from anyone, it retries on its own, writes everything it
// holds, acknowledges it, and the state clears. Nothing is lost: the edit
// is there after a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./harness.mjs";
import { tracked } from "./tracked.mjs";
import { Y, addNote, noteText, coveringEcho, echoedStateVector, docUntil } from "./clients.mjs";
import { debugJson } from "./http.mjs";
import { objectFiles, inspect } from "./storage.mjs";

const TOKEN = "e2e-quota-token-0123456789abcdef0123";
const { start, stop, connect, close } = tracked({ token: TOKEN });

test("writes refused for the daily quota: edits relayed, none acknowledged, the state shown, and the room resumes on its own", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const vault = "quota-vault";
  // Three refusals: the first write and its retries 1 s and 2 s later
  // (RETRY_FIRST_MS, doubling); the retry 4 s after that is let through.
  let server = await start({ persistDir: dir, vars: { YAOS_TEST_QUOTA_REFUSALS: "3" } });
  const typist = connect(server, { vault });
  const watcher = connect(server, { vault });
  await Promise.all([typist.synced(), watcher.synced()]);
  const me = typist.doc.clientID;

  const id = addNote(typist.doc, "refused.md", "written while the quota refuses");
  await docUntil(watcher.doc, (d) => noteText(d, id) === "written while the quota refuses", 15_000, "the edit relayed to the watcher");
  const refusing = await debugJson(server, vault, TOKEN);
  const quota = refusing.budget.quotaExceeded;
  assert.ok(quota, `the budget shows the refusal: ${JSON.stringify(refusing.budget)}`);
  assert.match(quota.error, /daily quota exceeded/);
  assert.match(quota.liftsAt, /T00:00:00\.000Z$/, "lifts at midnight UTC");
  assert.equal(refusing.persistence.status, "degraded");
  assert.equal(refusing.persistence.pendingPersistence, true);
  assert.equal(refusing.persistence.checkpointFallbackCount, 0, "no full checkpoint tried while the quota refuses");
  const myClock = Y.decodeStateVector(Y.encodeStateVector(typist.doc)).get(me);
  assert.ok(typist.echoes.every((e) => (echoedStateVector(e).get(me) ?? 0) < myClock), "nothing acknowledged while refused");

  // No further edit from anyone: the room's own retry writes the note.
  await coveringEcho(typist, 30_000, "the echo once the quota lifts");
  const resumed = await debugJson(server, vault, TOKEN);
  assert.equal(resumed.budget.quotaExceeded, null);
  assert.equal(resumed.persistence.status, "healthy");
  assert.equal(resumed.persistence.pendingPersistence, false);
  assert.ok(resumed.persistence.failedSaveCount >= 3, `${resumed.persistence.failedSaveCount} refused saves`);

  for (const c of [typist, watcher]) close(c);
  await stop(server);
  server = await start({ persistDir: dir });
  const fresh = connect(server, { vault });
  await fresh.synced();
  assert.equal(noteText(fresh.doc, id), "written while the quota refuses", "the edit was stored");
});

test("the day's counts outlive the object: the last socket's close stores them and a restart resumes them", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const vault = "usage-vault";
  let server = await start({ persistDir: dir });
  const writer = connect(server, { vault });
  await writer.synced();
  addNote(writer.doc, "counted.md", "rows, messages, requests");
  await coveringEcho(writer, 15_000, "the note's echo");
  const seen = (await debugJson(server, vault, TOKEN)).budget;
  assert.ok(seen.sqlRowsWrittenToday > 0 && seen.incomingMessagesToday > 0 && seen.requestsToday > 0, JSON.stringify(seen));
  close(writer);
  // The close is the room's event, not ours: read storage (read-only) until
  // the counts it stores on the last socket's close are there. Bounded.
  const [file] = objectFiles(dir);
  let stored = null;
  for (let i = 0; i < 200; i++) {
    const text = inspect(file).kv.get("yaos:usageToday");
    stored = text ? JSON.parse(text) : null;
    if (stored && stored.counts.incomingMessages >= seen.incomingMessagesToday && stored.counts.rowsWritten >= seen.sqlRowsWrittenToday) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(stored && stored.counts.rowsWritten >= seen.sqlRowsWrittenToday, `stored at close: ${JSON.stringify(stored)}`);
  await stop(server);

  server = await start({ persistDir: dir });
  const reader = connect(server, { vault }); // activates the room (the debug JSON never does)
  await reader.synced();
  const budget = (await debugJson(server, vault, TOKEN)).budget;
  assert.ok(budget.incomingMessagesToday >= stored.counts.incomingMessages, `messages resumed: ${JSON.stringify(budget)}`);
  assert.ok(budget.sqlRowsWrittenToday >= stored.counts.rowsWritten, "rows written resumed");
  assert.ok(budget.sqlRowsWrittenSinceActivation < stored.counts.rowsWritten, "the activation's own count starts again");
});
