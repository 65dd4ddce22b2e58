// A large vault's compaction (a rewrite of the whole snapshot that blocks
// the room) waits until the room falls idle: while a device keeps editing,
// the journal grows past its threshold and nothing is rewritten, although a
// small vault's would have been rewritten within ten seconds; once nobody
// is connected, the alarm compacts. Every edit meanwhile is acknowledged
// (the journal holds it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { tracked } from "./tracked.mjs";
import { addNote, noteText, coveringEcho, docUntil } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-idle-compaction-token-0123456789ab";
const { start, connect, close } = tracked({ token: TOKEN });

test("a large vault is compacted when the room falls idle, not while a device edits", { timeout: 180_000 }, async () => {
  const server = await start();
  const vault = "idle-compaction-vault";
  const writer = connect(server, { vault });
  await writer.synced();
  // A 4.5 MB vault (over IDLE_COMPACTION_SNAPSHOT_BYTES): written as a
  // checkpoint, which scales the thresholds to about 1.1 MB of journal.
  addNote(writer.doc, "big.md", "b".repeat(4_500_000));
  await coveringEcho(writer, 60_000, "the big note's echo");
  const id = addNote(writer.doc, "typed.md", "");
  await coveringEcho(writer, 15_000, "the typed note's echo");
  const text = writer.doc.getMap("idToText").get(id);

  // Past the threshold: four 300 KB pastes.
  for (let i = 0; i < 4; i++) {
    text.insert(text.length, "p".repeat(300_000));
    await coveringEcho(writer, 15_000, `paste ${i}'s echo`);
  }
  const due = await debugJson(server, vault, TOKEN);
  assert.equal(due.room.compactionDue, true, JSON.stringify(due.persistence));
  assert.ok(due.room.snapshotBytes > 4 * 1024 * 1024, `snapshot of ${due.room.snapshotBytes} bytes`);
  const entries = due.persistence.journalEntryCount;

  // Twelve seconds of editing, a keystroke every half second, each
  // acknowledged: a small vault's compaction would have run by its
  // ten-second cap. This one waits.
  const started = Date.now();
  let typed = 0;
  while (Date.now() - started < 12_000) {
    text.insert(text.length, "k");
    typed++;
    await coveringEcho(writer, 15_000, `keystroke ${typed}'s echo`);
    await new Promise((r) => setTimeout(r, 500)); // the typing pace, not a synchronisation
  }
  const typing = await debugJson(server, vault, TOKEN);
  assert.equal(typing.persistence.lastCompactionAt, null, "no rewrite while a device edits");
  assert.equal(typing.persistence.journalEntryCount, entries + typed, "every keystroke journaled");

  // Nobody connected: the alarm (30 s after the compaction became due)
  // compacts. The alarm is the server's event: poll, bounded.
  const expected = noteText(writer.doc, id);
  close(writer);
  let after;
  for (let i = 0; i < 120; i++) {
    after = await debugJson(server, vault, TOKEN);
    if (after.persistence.lastCompactionAt) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(after.persistence.lastCompactionAt, "compacted once idle");
  assert.equal(after.persistence.journalEntryCount, 0);
  const reader = connect(server, { vault });
  await reader.synced();
  await docUntil(reader.doc, (d) => noteText(d, id) === expected, 15_000, "everything after the compaction");
});
