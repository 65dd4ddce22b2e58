// Nobody is locked out silently (issue 19, item 3), against the real worker
// with its default limits: a returning device whose state vector names the
// 200,000 client IDs of a long-lived vault (a SyncStep1 over the fixed
// 1 MiB floor) is synced, and a 28 MiB update (under the platform's 32 MiB)
// is applied and reaches another client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, until, docUntil, varuint, coveringEcho } from "./clients.mjs";

const TOKEN = "e2e-lockout-token-0123456789abcdef0123";
let server;
before(async () => { server = await startServer({ persistDir: tempDir(), vars: { SYNC_TOKEN: TOKEN } }); });
after(async () => { await server?.stop(); });

async function debug(vault) {
  const res = await fetch(`${server.url}/vault/${vault}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

/**
 * A v1 update in which each client of `clients` wrote one GC struct of
 * length 1: the smallest way to make a document name many clients, as a
 * long-lived vault does (Yjs makes a new client ID per editing session).
 */
function manyClientsUpdate(clients) {
  const out = [...varuint(clients.length)];
  for (const client of clients) out.push(1, ...varuint(client), 0, 0, 1); // one struct from clock 0: GC of length 1
  out.push(0); // empty delete set
  return Uint8Array.from(out);
}

/** A raw socket that records its text frames and counts the update broadcasts it gets. */
async function rawSocket(vault) {
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}&device=seeder`);
  ws.texts = [];
  ws.updates = 0;
  ws.on("message", (data, isBinary) => {
    if (!isBinary) ws.texts.push(data.toString());
    else if (data[0] === 0 && data[1] === 2) ws.updates++;
  });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  const emitter = { on: (e, f) => ws.on("message", f), off: (e, f) => ws.off("message", f) };
  ws.until = (pred, what) => until(emitter, "message", pred, 60000, what);
  return ws;
}

test("a 28 MiB update, under the platform's 32 MiB, is applied and reaches another client", { timeout: 180000 }, async () => {
  const vault = "big-push-vault";
  const SIZE = 28 * 1024 * 1024;
  const receiver = connectClient(server, vault, { token: TOKEN });
  await receiver.synced();
  const pusher = connectClient(server, vault, { token: TOKEN });
  await pusher.synced();
  // The plugin sends a change as one update frame, whatever its size.
  addNote(pusher.doc, "big.md", "x".repeat(SIZE));
  await coveringEcho(pusher, 120000, "the big update's echo");
  await docUntil(receiver.doc, () => noteText(receiver.doc, "id-big.md")?.length === SIZE, 120000, "the big note at the receiver");
  const d = await debug(vault);
  assert.equal(d.refusedFrames.count, 0);
  // First in this file: the isolate's wasm memory (which never shrinks) is this frame's doing.
  console.log(`wasm memory after a ${SIZE}-byte update: ${(d.wasmMemoryBytes / 1e6).toFixed(1)} MB`);
  assert.ok(d.wasmMemoryBytes < 120_000_000, `${d.wasmMemoryBytes} bytes of wasm memory`);
  assert.deepEqual(pusher.customMessages.filter((m) => m.includes("limit_exceeded")), []);
  receiver.close();
  pusher.close();
  assert.deepEqual(server.crashLines(), []);
});

test("a returning device whose state vector names 200,000 client IDs is synced and gets later edits", { timeout: 180000 }, async () => {
  const vault = "long-lived-vault";
  const CLIENTS = 200_000;
  const BATCH = 50_000;
  const clients = Array.from({ length: CLIENTS }, (_, i) => 1_000_000_000 + i * 7);
  // Seeded in batches, each applied before the next (each frame far under
  // the cap). The sender gets its own update's broadcast; the SV echo is not
  // sent once the state vector's base64 passes 65,536 characters (spec 8.6).
  const seeder = await rawSocket(vault);
  for (let start = 0; start < CLIENTS; start += BATCH) {
    const update = manyClientsUpdate(clients.slice(start, start + BATCH));
    const before = seeder.updates;
    seeder.send(Buffer.from([0, 2, ...varuint(update.length), ...update]));
    await seeder.until(() => seeder.updates > before, `batch ${start / BATCH + 1}'s broadcast`);
    assert.deepEqual(seeder.texts.filter((t) => t.includes("limit_exceeded")), []);
  }

  // The returning device holds every one of those clients, not what was written since.
  const returningDoc = new Y.Doc();
  for (let start = 0; start < CLIENTS; start += BATCH) Y.applyUpdate(returningDoc, manyClientsUpdate(clients.slice(start, start + BATCH)));
  const sv = Y.encodeStateVector(returningDoc);
  assert.ok(sv.length > 1024 * 1024, `the state vector is ${sv.length} bytes, over the fixed 1 MiB floor`);

  const writer = connectClient(server, vault, { token: TOKEN });
  await writer.synced();
  const before = seeder.updates;
  addNote(writer.doc, "away.md", "written while the phone was away");
  await seeder.until(() => seeder.updates > before, "the away note's broadcast");
  seeder.close();

  const returning = connectClient(server, vault, { token: TOKEN, doc: returningDoc });
  await until(returning.provider, "synced", () => returning.provider.synced, 60000, "the returning device synced");
  assert.equal(noteText(returning.doc, "id-away.md"), "written while the phone was away");
  assert.deepEqual(returning.customMessages.filter((m) => m.includes("limit_exceeded")), []);

  addNote(writer.doc, "later.md", "a later edit");
  await docUntil(returning.doc, () => noteText(returning.doc, "id-later.md") === "a later edit", 30000, "the later edit");
  const d = await debug(vault);
  assert.equal(d.refusedFrames.count, 0);
  console.log(`wasm memory with ${CLIENTS} clients: ${(d.wasmMemoryBytes / 1e6).toFixed(1)} MB`);
  returning.close();
  writer.close();
  assert.deepEqual(server.crashLines(), []);
});
