// What a fresh device observes: the plugin acts on every transaction its
// Yjs document sees, so a device with an empty cache must receive the vault
// in one transaction, never passing through a state the vault did not
// settle in (a deleted note alive, text whose removal comes later). The
// vault here has a compacted snapshot, then a journal of text deletions and
// schema-3 tombstones, by the seeding client and by one that first wrote
// after the snapshot. The server's pieces are 16 KiB, so the answer is many
// messages; the fresh client counts the transactions that change its
// document (exactly one) and checks the state after each, before and after
// a restart, and once more with the default settings, where a vault this
// small is one SyncStep2.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, until, sameContent, coveringEcho } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-one-step-sync-token-0123456789abcdef";
const PIECE = 16 * 1024;
let server;
after(async () => { await server?.stop(); });

const acknowledged = (client, what) => coveringEcho(client, 60_000, what);

/** A schema-3 tombstone, as the plugin writes one: deletedAt on the note's meta, mtime gone, path dropped. */
function tombstone(doc, fileId) {
  doc.transact(() => {
    const meta = doc.getMap("meta").get(fileId);
    doc.getMap("pathToId").delete(meta.get("path"));
    meta.set("deletedAt", 1_800_000_000_000);
    meta.delete("mtime");
  });
}

/**
 * Syncs a new document and records every transaction that changed it, with
 * whether the vault looked as `expected` does right after it. Resolves once
 * synced, with the count and the number of messages received.
 */
async function freshSync(vault, expected) {
  const doc = new Y.Doc();
  const seen = [];
  doc.on("afterTransaction", (tr) => {
    if (tr.changed.size > 0 || tr.deleteSet.clients.size > 0) seen.push(sameContent(doc, expected));
  });
  const frameSizes = [];
  const c = connectClient(server, vault, { token: TOKEN, doc, frameSizes });
  await until(c.provider, "synced", () => c.provider.synced, 60_000, "synced");
  c.close();
  return { seen, frames: frameSizes.length, doc };
}

test("a fresh device sees the vault in one transaction, from many pieces, across a restart", { timeout: 240_000 }, async () => {
  const persistDir = tempDir();
  // One-step size 0: every fresh sync goes in pieces.
  const vars = { SYNC_TOKEN: TOKEN, YAOS_SYNC_PIECE_BYTES: String(PIECE), YAOS_ONE_STEP_SYNC_BYTES: "0", YAOS_ENABLE_ADMIN_ROUTES: "1" };
  server = await startServer({ persistDir, vars });
  const vault = "one-step-vault";

  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  const ids = [];
  a.doc.transact(() => {
    for (let i = 0; i < 300; i++) ids.push(addNote(a.doc, `notes/${i}.md`, `# Note ${i}\n` + "a sentence of the note. ".repeat(40)));
  });
  await acknowledged(a, "the seed");
  const compacted = await fetch(`${server.url}/vault/${vault}/debug/compact`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(compacted.status, 200, await compacted.text());

  // After the snapshot: text removed from 6 notes and 6 notes deleted, each
  // its own transaction (its own journal row).
  for (let i = 0; i < 6; i++) {
    const text = a.doc.getMap("idToText").get(ids[i]);
    text.delete(10, text.length - 20);
    await acknowledged(a, `edit ${i}`);
    tombstone(a.doc, ids[100 + i]);
    await acknowledged(a, `tombstone ${i}`);
  }
  // A device that first writes after the snapshot: a note it creates and
  // then deletes, and one it keeps.
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  const brief = addNote(b.doc, "brief.md", "here and gone");
  await acknowledged(b, "brief note");
  tombstone(b.doc, brief);
  await acknowledged(b, "brief note deleted");
  addNote(b.doc, "kept.md", "written after the snapshot");
  await acknowledged(b, "kept note");
  await until(a.doc, "update", () => sameContent(a.doc, b.doc), 15_000, "a has b's notes");
  const stored = await debugJson(server, vault, TOKEN);
  assert.ok(stored.persistence.journalEntryCount >= 15, `journal of ${stored.persistence.journalEntryCount}`);
  b.close();

  const vaultBytes = Y.encodeStateAsUpdate(a.doc).length;
  assert.ok(vaultBytes > 8 * PIECE, `a ${vaultBytes}-byte vault`);
  const first = await freshSync(vault, a.doc);
  assert.ok(first.frames > 8, `${first.frames} messages`);
  assert.deepEqual(first.seen, [true], "one transaction, and it holds the vault as it is");

  // Across a restart, from the stored rows alone.
  await server.stop();
  server = await startServer({ persistDir, vars });
  const again = await freshSync(vault, a.doc);
  assert.deepEqual(again.seen, [true], "after the restart too");

  // With the default settings this vault is one SyncStep2 from the document.
  await server.stop();
  server = await startServer({ persistDir, vars: { SYNC_TOKEN: TOKEN } });
  const whole = await freshSync(vault, a.doc);
  assert.deepEqual(whole.seen, [true], "one transaction");
  const sent = (await debugJson(server, vault, TOKEN)).recent.find((e) => e.event === "server.sync.stored_state");
  assert.equal(sent?.source, "document", JSON.stringify(sent));
  assert.equal(sent.frames, 1);
  a.close();
});
