// The per-client limits of a vault room against the real worker, with the
// operator's settings (wrangler vars) lowering them: an oversized update
// frame, one socket too many, and repeated full-state SyncStep1s. Each
// offender is told why; the socket stays open (or, for the socket limit, the
// upgrade is refused with a plain 503 before any 101); the other clients
// never notice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, until, docUntil, varuint } from "./clients.mjs";

const TOKEN = "e2e-limits-token-0123456789abcdef0123";
const SOCKETS = 6;
const vars = {
  SYNC_TOKEN: TOKEN,
  YAOS_MAX_UPDATE_FRAME_BYTES: String(2 * 1024 * 1024),
  YAOS_MAX_SOCKETS_PER_ROOM: String(SOCKETS),
  YAOS_FULL_SYNC_ANSWERS_PER_MINUTE: "2",
};
let server;
before(async () => { server = await startServer({ persistDir: tempDir(), vars }); });
after(async () => { await server?.stop(); });



/** A raw socket that records text frames, binary frames and its close. */
async function rawSocket(vault, query = "") {
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}${query}`);
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

  const raw = await rawSocket(vault, "&device=work%20laptop");
  const big = Buffer.alloc(2 * 1024 * 1024 + 1, 7);
  const bigFrame = Buffer.concat([Buffer.from([0, 2, ...varuint(big.length)]), big]);
  raw.send(bigFrame);
  await raw.until(() => limitErrors(raw).length >= 1, "the limit error");
  assert.match(limitErrors(raw)[0], /frame of \d+ bytes is over the 2097152-byte limit/);
  assert.equal(raw.readyState, WebSocket.OPEN, "the socket stays open");
  // Never only told to a client that ignores it: the operator sees it too.
  const refused = (await debug(vault)).refusedFrames;
  assert.equal(refused.count, 1);
  assert.equal(refused.recent[0].device, "work laptop");
  assert.equal(refused.recent[0].bytes, bigFrame.length);
  assert.match(refused.recent[0].reason, /over the 2097152-byte limit for Update frames/);
  assert.ok((await debug(vault)).recent.some((t) => t.event === "server.frame.refused" && t.bytes === bigFrame.length));

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

/**
 * Opens a socket and reports how the upgrade ended: `{ ws }` once open, or
 * `{ status, retryAfter, body }` when the server answered with plain HTTP.
 */
function upgrade(vault, query = "") {
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}${query}`);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, retryAfter: res.headers["retry-after"], body }));
    });
    ws.once("error", (e) => reject(e));
  });
}

test("one socket over the room's limit is refused before the upgrade with 503 room_full and Retry-After; the others stay", async () => {
  const vault = "socket-limit-vault";
  const open = [];
  for (let i = 0; i < SOCKETS; i++) open.push(await rawSocket(vault));
  const refused = await upgrade(vault);
  assert.equal(refused.ws, undefined, "no 101 for the extra socket");
  assert.equal(refused.status, 503);
  assert.equal(refused.retryAfter, "10");
  const body = JSON.parse(refused.body);
  assert.equal(body.error, "room_full");
  assert.match(body.message, new RegExp(`already has ${SOCKETS} open connections \\(limit ${SOCKETS}\\)`));
  for (const ws of open) assert.equal(ws.readyState, WebSocket.OPEN);
  // The open sockets still sync: an edit from one reaches the others.
  const doc = new Y.Doc();
  doc.getMap("m").set("still", "here");
  const update = Y.encodeStateAsUpdate(doc);
  open[0].send(Buffer.from([0, 2, ...varuint(update.length), ...update]));
  await open[1].until(() => open[1].binaries.some((b) => b[0] === 0 && b[1] === 2), "the edit reaches another socket");
  // A place freed is a place taken.
  open.pop().close();
  // The close reaches the room asynchronously: retry, a bounded number of times.
  let admitted = null;
  for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
    const outcome = await upgrade(vault);
    if (outcome.ws) admitted = outcome.ws;
    else assert.equal(outcome.status, 503);
  }
  assert.ok(admitted, "a socket is admitted once one closed");
  admitted.close();
  for (const ws of open) ws.close();
  assert.deepEqual(server.crashLines(), []);
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

test("five reconnects of one _pk within a minute each get a SyncStep2, old sockets still open", async () => {
  const vault = "reconnect-vault";
  const writer = connectClient(server, vault, { token: TOKEN });
  await writer.synced();
  addNote(writer.doc, "note.md", "from another device");
  await until(writer.provider, "custom-message", () => writer.echoes.length >= 2, 15000, "the note's echo");
  writer.close();

  // The plugin keeps its `_pk` across reconnects; on a flaky link the server
  // may never see the old socket close, so they all stay open here.
  const emptyStep1 = Buffer.from([0, 0, 1, 0]);
  const sockets = [];
  for (let i = 0; i < 5; i++) {
    const ws = await rawSocket(vault, "&_pk=flakyPhone1&device=phone");
    ws.send(emptyStep1);
    await ws.until(() => ws.binaries.some((b) => b[0] === 0 && b[1] === 1) || limitErrors(ws).length > 0, `reconnect ${i + 1}'s answer`);
    assert.deepEqual(limitErrors(ws), [], `reconnect ${i + 1} is not refused`);
    sockets.push(ws);
  }
  // A repeat on one socket still counts against that socket's budget (2 here).
  const last = sockets.at(-1);
  last.send(emptyStep1);
  last.send(emptyStep1);
  await last.until(() => limitErrors(last).length >= 1, "the repeat's limit error");
  assert.equal(last.binaries.filter((b) => b[0] === 0 && b[1] === 1).length, 2);
  for (const ws of sockets) ws.close();
  assert.deepEqual(server.crashLines(), []);
});
