// A fresh device's first sync of a vault, end to end: the server sends the
// stored snapshot in pieces and then the journal, each as its own message,
// and the SyncStep2 last. The server's piece size is set to 64 KiB and the
// clients refuse any message over 256 KiB (as a proxy or platform cap
// would), so a 2 MB vault that went out as one message would close their
// sockets instead of syncing. Fresh and returning clients converge with the
// client that stayed connected: with a long journal, after compaction, and
// across a restart.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, docUntil, until, sameContent, coveringEcho } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-fresh-sync-token-0123456789abcdef";
const PIECE = 64 * 1024;
const CLIENT_CAP = 256 * 1024;
const NOTES = 1000;
let server;
after(async () => { await server?.stop(); });

const debug = (vault) => debugJson(server, vault, TOKEN);
const acknowledged = (client, what) => coveringEcho(client, 60_000, what);

/** A capped client; resolves once synced, with the sizes of what it received. */
async function capped(vault, doc = new Y.Doc()) {
  const frameSizes = [];
  const closes = [];
  const c = connectClient(server, vault, { token: TOKEN, doc, maxPayload: CLIENT_CAP, frameSizes });
  c.provider.on("connection-close", (event) => closes.push(event?.code));
  await until(c.provider, "synced", () => c.provider.synced || closes.length > 0, 60_000, "synced or closed");
  assert.deepEqual(closes, [], "the socket stayed open");
  return { c, frameSizes };
}

test("a fresh client syncs a vault far larger than its message cap, from the stored rows, before and after a restart", { timeout: 240_000 }, async () => {
  const persistDir = tempDir();
  const vars = { SYNC_TOKEN: TOKEN, YAOS_SYNC_PIECE_BYTES: String(PIECE), YAOS_ONE_STEP_SYNC_BYTES: "0", YAOS_ENABLE_ADMIN_ROUTES: "1" };
  server = await startServer({ persistDir, vars });
  const vault = "fresh-sync-vault";

  // The seed is over one journal row's limit: it is stored as the snapshot.
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  a.doc.transact(() => {
    for (let i = 0; i < NOTES; i++) addNote(a.doc, `notes/${i}.md`, `# Note ${i}\n` + "words of a note ".repeat(140));
  });
  await acknowledged(a, "the seed's echo");
  // Then a long journal: 150 separate edits, each one row.
  let halfway = null;
  for (let i = 0; i < 150; i++) {
    addNote(a.doc, `journal/${i}.md`, `edit ${i}`);
    if (i === 75) halfway = Y.encodeStateAsUpdate(a.doc);
    await acknowledged(a, `edit ${i}`);
  }
  const stored = await debug(vault);
  assert.ok(stored.persistence.journalEntryCount >= 100, `journal of ${stored.persistence.journalEntryCount}`);
  const vaultBytes = Y.encodeStateAsUpdate(a.doc).length;
  assert.ok(vaultBytes > 8 * CLIENT_CAP, `a ${vaultBytes}-byte vault`);

  // A fresh client: many messages, none near its cap, the same vault.
  const b = await capped(vault);
  assert.ok(sameContent(b.c.doc, a.doc), "the fresh client holds the vault");
  assert.ok(b.frameSizes.length > 20, `${b.frameSizes.length} messages`);
  assert.ok(Math.max(...b.frameSizes) < PIECE + 16 * 1024, `largest message ${Math.max(...b.frameSizes)} bytes`);

  // A returning client that missed the second half of the journal.
  const returning = new Y.Doc();
  Y.applyUpdate(returning, halfway);
  const c = await capped(vault, returning);
  assert.ok(sameContent(c.c.doc, a.doc), "the returning client caught up");

  // Compaction folds the journal into the snapshot; a fresh client after it.
  const compacted = await fetch(`${server.url}/vault/${vault}/debug/compact`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(compacted.status, 200, await compacted.text());
  assert.equal((await debug(vault)).persistence.journalEntryCount, 0);
  const d = await capped(vault);
  assert.ok(sameContent(d.c.doc, a.doc), "fresh after compaction");
  d.c.close();
  for (const x of [b, c]) x.c.close();
  a.close();

  // Across a restart: a fresh client from the rows alone, and live edits
  // from it reach a returning one.
  await server.stop();
  server = await startServer({ persistDir, vars });
  const e = await capped(vault);
  assert.ok(sameContent(e.c.doc, a.doc), "fresh after the restart");
  const back = new Y.Doc();
  Y.applyUpdate(back, Y.encodeStateAsUpdate(a.doc));
  const f = await capped(vault, back);
  const late = addNote(e.c.doc, "after-restart.md", "written after the restart");
  await docUntil(f.c.doc, (doc) => noteText(doc, late) === "written after the restart", 15_000, "the edit reaches the returning client");
  e.c.close();
  f.c.close();
});
