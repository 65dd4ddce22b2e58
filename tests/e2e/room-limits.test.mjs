// The per-client limits of a vault room against the real worker, with the
// operator's settings (wrangler vars) lowering them: an oversized update
// frame, one socket too many, and repeated full-state SyncStep1s. Each
// offender is told why; the socket stays open (or, for the socket limit, is
// closed with 1013 and a reason); the other clients never notice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, until, docUntil, varuint } from "./clients.mjs";

const TOKEN = "e2e-limits-token-0123456789abcdef0123";
const vars = {
  SYNC_TOKEN: TOKEN,
  YAOS_MAX_UPDATE_FRAME_BYTES: String(2 * 1024 * 1024),
  YAOS_MAX_SOCKETS_PER_ROOM: "3",
  YAOS_FULL_SYNC_ANSWERS_PER_MINUTE: "2",
};
let server;
before(async () => { server = await startServer({ persistDir: tempDir(), vars }); });
after(async () => { await server?.stop(); });



/** A raw socket that records text frames, binary frames and its close. */
async function rawSocket(vault) {
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
  ws.texts = [];
  ws.binaries = [];
  ws.on("message", (data, isBinary) => (isBinary ? ws.binaries : ws.texts).push(isBinary ? Buffer.from(data) : data.toString()));
  ws.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  const emitter = { on: (e, f) => ws.on("message", f), off: (e, f) => ws.off("message", f) };
  ws.until = (pred, what) => until(emitter, "message", pred, 20000, what);
  return ws;
}

const limitErrors = (ws) => ws.texts.filter((t) => t.includes('"code":"limit_exceeded"'));

async function debug(vault) {
  const res = await fetch(`${server.url}/vault/${vault}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test("an update frame over the operator's limit is refused unread; the sender is told and stays connected", async () => {
  const vault = "frame-limit-vault";
  const peer = connectClient(server, vault, { token: TOKEN });
  await peer.synced();
  const id = addNote(peer.doc, "keep.md", "keep me");
  await until(peer.provider, "custom-message", () => peer.echoes.length >= 2, 15000, "the peer's echo");
  const before = await debug(vault);

  const raw = await rawSocket(vault);
  const big = Buffer.alloc(2 * 1024 * 1024 + 1, 7);
  raw.send(Buffer.concat([Buffer.from([0, 2, ...varuint(big.length)]), big]));
  await raw.until(() => limitErrors(raw).length >= 1, "the limit error");
  assert.match(limitErrors(raw)[0], /frame of \d+ bytes is over the 2097152-byte limit/);
  assert.equal(raw.readyState, WebSocket.OPEN, "the socket stays open");

  // The sender's next, ordinary edit is taken and acknowledged.
  const doc = new Y.Doc();
  doc.getMap("m").set("after", "small");
  const update = Y.encodeStateAsUpdate(doc);
  const echoes = raw.texts.filter((t) => t.includes("yaos/sv-echo")).length;
  raw.send(Buffer.from([0, 2, ...varuint(update.length), ...update]));
  await raw.until(() => raw.texts.filter((t) => t.includes("yaos/sv-echo")).length > echoes, "the small edit's echo");
  await docUntil(peer.doc, () => peer.doc.getMap("m").get("after") === "small", 15000, "the peer sees the small edit");
  const after = await debug(vault);
  assert.equal(after.persistence.journalEntryCount, before.persistence.journalEntryCount + 1, "only the small edit was written");
  assert.equal(noteText(peer.doc, id), "keep me");
  assert.equal(limitErrors(raw).length, 1);
  raw.close();
  peer.close();
  assert.deepEqual(server.crashLines(), []);
});

test("one socket over the room's limit is closed with 1013 and a reason; the others stay", async () => {
  const vault = "socket-limit-vault";
  const open = [await rawSocket(vault), await rawSocket(vault), await rawSocket(vault)];
  const extra = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
  const closed = await new Promise((resolve) => extra.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /already has 3 open connections \(limit 3\)/);
  for (const ws of open) assert.equal(ws.readyState, WebSocket.OPEN);
  // A place freed is a place taken.
  open.pop().close();
  // The close reaches the room asynchronously: retry, a bounded number of times.
  let admitted = null;
  for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
    const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
    const outcome = await new Promise((resolve) => {
      ws.once("message", () => resolve("open"));
      ws.once("close", () => resolve("closed"));
    });
    if (outcome === "open") admitted = ws;
  }
  assert.ok(admitted, "a socket is admitted once one closed");
  admitted.close();
  for (const ws of open) ws.close();
});

test("full-state SyncStep1s beyond the per-connection budget get a limit error, not the whole vault again", async () => {
  const vault = "step1-limit-vault";
  const writer = connectClient(server, vault, { token: TOKEN });
  await writer.synced();
  addNote(writer.doc, "note.md", "x".repeat(10_000));
  await until(writer.provider, "custom-message", () => writer.echoes.length >= 2, 15000, "the note's echo");

  const raw = await rawSocket(vault);
  const emptyStep1 = Buffer.from([0, 0, 1, 0]); // SyncStep1 with an empty state vector
  const step2s = () => raw.binaries.filter((b) => b[0] === 0 && b[1] === 1).length;
  for (let i = 0; i < 3; i++) raw.send(emptyStep1);
  await raw.until(() => limitErrors(raw).length >= 1, "the limit error");
  assert.equal(step2s(), 2, "two full answers, then the budget is spent");
  assert.match(limitErrors(raw)[0], /more than 2 full sync requests in 60000 ms/);
  assert.equal(raw.readyState, WebSocket.OPEN);
  // Another connection is answered as usual.
  const reader = connectClient(server, vault, { token: TOKEN });
  await reader.synced();
  assert.equal(noteText(reader.doc, "id-note.md")?.length, 10_000);
  reader.close();
  writer.close();
  raw.close();
  assert.deepEqual(server.crashLines(), []);
});
