// Hibernation, end to end. workerd evicts a Durable Object whose only
// connections are hibernatable sockets once it has been idle for about ten
// seconds, and keeps the sockets open; the next message wakes a fresh
// instance. The test lets the vault's object go idle until the debug JSON
// says the document is no longer loaded (the check itself does not load
// it), then shows the wake path: the room reloads from SQL, sends SyncStep1
// to every open socket, still knows each socket's awareness IDs (from the
// attachments), and edits from both sides of the eviction converge.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, tempDir } from "./harness.mjs";
import { connectClient, addNote, noteText, docUntil, until, sameContent, varuint } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-hibernation-token-0123456789abcdef";
let server;
after(async () => { await server?.stop(); });

const debug = (vault) => debugJson(server, vault, TOKEN);

/**
 * Waits, without touching the object, for workerd's idle eviction, then
 * checks it happened. There is no event for it, so this waits out the
 * platform's timer (a bounded number of rounds).
 */
async function evicted(vault) {
  for (let round = 0; round < 6; round++) {
    await new Promise((r) => setTimeout(r, 12_000));
    const info = await debug(vault);
    if (!info.documentLoaded) return info;
  }
  throw new Error("the object was never evicted");
}

test("an evicted vault wakes on the next message: reload from SQL, SyncStep1 to every socket, awareness IDs kept, edits converge", { timeout: 180_000 }, async () => {
  server = await startServer({ persistDir: tempDir(), vars: { SYNC_TOKEN: TOKEN } });
  const vault = "hibernating-vault";
  const a = connectClient(server, vault, { token: TOKEN });
  const b = connectClient(server, vault, { token: TOKEN });
  await Promise.all([a.synced(), b.synced()]);
  // A raw socket records what the server sends, frame by frame.
  const raw = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
  const rawFrames = [];
  raw.on("message", (data, isBinary) => { if (isBinary) rawFrames.push(Buffer.from(data)); });
  await new Promise((resolve, reject) => { raw.once("open", resolve); raw.once("error", reject); });
  const rawEmitter = { on: (e, f) => raw.on("message", f), off: (e, f) => raw.off("message", f) };

  // The raw socket announces an awareness state (client 777).
  const state = Buffer.from(JSON.stringify({ user: { name: "raw" } }));
  const update = Buffer.from([1, ...varuint(777), 1, ...varuint(state.length), ...state]);
  raw.send(Buffer.from([1, ...varuint(update.length), ...update]));
  await until(a.provider.awareness, "change", () => a.provider.awareness.getStates().get(777)?.user?.name === "raw", 15000, "a sees the raw socket's state");
  const before = addNote(a.doc, "before.md", "written before the eviction");
  await docUntil(b.doc, (d) => noteText(d, before) === "written before the eviction", 15000, "b gets a's note");
  const loaded = await debug(vault);
  assert.equal(loaded.documentLoaded, true);

  const asleep = await evicted(vault);
  assert.equal(asleep.documentLoaded, false, "evicted with three sockets open");
  assert.equal(raw.readyState, WebSocket.OPEN, "the sockets stay open");
  const framesBefore = rawFrames.length;

  // b's edit wakes the object.
  const after = addNote(b.doc, "after.md", "written after the eviction");
  await docUntil(a.doc, (d) => noteText(d, after) === "written after the eviction", 20000, "a gets b's note after the wake");
  // The wake sent SyncStep1 ([0, 0, ...]) to every open socket, the raw one included.
  await until(rawEmitter, "message", () => rawFrames.slice(framesBefore).some((f) => f[0] === 0 && f[1] === 0), 15000, "SyncStep1 after the wake");
  const awake = await debug(vault);
  assert.equal(awake.documentLoaded, true);
  assert.equal(awake.storage.mode, "sql", "reloaded from SQL");
  assert.equal(loaded.persistence.loadedStateVectorHash, "00", "the first instance loaded an empty vault");
  assert.notEqual(awake.persistence.loadedStateVectorHash, "00", "the woken one loaded the stored vault");

  // Edits on both sides converge.
  const fromA = addNote(a.doc, "a-after.md", "a, after the wake");
  await docUntil(b.doc, (d) => noteText(d, fromA) === "a, after the wake", 15000, "b gets a's later note");
  assert.ok(sameContent(a.doc, b.doc));

  // The raw socket's awareness ID survived in its attachment: dropping the
  // socket without a goodbye removes its state from a, although the woken
  // instance never saw it announced.
  raw.terminate();
  await until(a.provider.awareness, "change", () => !a.provider.awareness.getStates().has(777), 15000, "the raw socket's awareness removed after the wake");

  // A fresh client gets everything from storage.
  const c = connectClient(server, vault, { token: TOKEN });
  await c.synced();
  for (const [id, text] of [[before, "written before the eviction"], [after, "written after the eviction"], [fromA, "a, after the wake"]]) {
    assert.equal(noteText(c.doc, id), text);
  }
  c.close();
  a.close();
  b.close();
});

