// Frames that used to reset the whole WebAssembly instance (every vault
// object in the isolate losing its memory): a sync update whose length is
// near 2^32 (a wrapped bounds check in yrs's cursor) and a value nested
// 20,000 levels deep (unbounded recursion in yrs's Any::decode). Both are now
// refused before yrs sees them: the server logs a clear error, the socket
// stays open, the document is untouched and nothing is written. A value 999
// levels deep (accepted by the TypeScript server too) is still accepted,
// stored, snapshotted and served across a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, tempDir } from "./harness.mjs";
import { Y, connectClient, addNote, noteText, until, varuint } from "./clients.mjs";

const TOKEN = "e2e-hostile-token-0123456789abcdef";
const dir = tempDir();
let server;
before(async () => { server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } }); });
after(async () => { await server?.stop(); });


/** A sync Update frame setting root map `m`, key `v`, to an array nested `depth` levels deep. */
function nestedFrame(depth, client) {
  const value = [];
  for (let i = 0; i < depth; i++) value.push(117, 1); // array of one element
  value.push(125, 1); // the integer 1
  // One client, one item at clock 0: parent root "m", parentSub "v", content Any with one value.
  const update = [1, 1, ...varuint(client), 0, 8 | 0x20, 1, 1, 0x6d, 1, 0x76, 1, ...value, 0];
  return Buffer.from([0, 2, ...varuint(update.length), ...update]);
}


async function rawSocket(vault) {
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
  const texts = [];
  ws.on("message", (data, isBinary) => { if (!isBinary) texts.push(data.toString()); });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  const emitter = { on: (e, f) => ws.on("message", f), off: (e, f) => ws.off("message", f) };
  // Every update-bearing frame is answered by one echo, refused or not.
  const echoes = () => texts.filter((t) => t.includes("yaos/sv-echo")).length;
  ws.echoesAtLeast = (n) => until(emitter, "message", () => echoes() >= n, 30000, `${n} echoes`);
  return ws;
}

test("the 10-byte frame and the 20,000-level value are refused without a reset; the room still serves", async () => {
  const vault = "hostile-vault";
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  const id = addNote(a.doc, "keep.md", "keep me");
  await until(a.provider, "custom-message", () => a.echoes.length >= 3, 15000, "the edit's echo");
  const recentBefore = await debug(vault);

  const raw = await rawSocket(vault);
  const lengthBomb = Buffer.from([0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03]);
  const FRAMES = 60;
  for (let i = 0; i < FRAMES; i++) raw.send(lengthBomb);
  raw.send(nestedFrame(20_000, 4242));
  await raw.echoesAtLeast(1 + FRAMES + 1); // baseline, then one per refused update frame
  assert.equal(raw.readyState, WebSocket.OPEN, "the socket stays open");
  await server.waitForOutput(/refused frame: invalid frame at byte \d+: length beyond the end of the input/);
  await server.waitForOutput(/refused frame: invalid update at byte \d+: value nested too deeply/);
  assert.deepEqual(server.crashLines(), [], "no panic, no instance reset");

  // Nothing was applied or written; the room kept its state in memory.
  const after = await debug(vault);
  assert.equal(after.persistence.journalEntryCount, recentBefore.persistence.journalEntryCount, "nothing written");
  // The echo and save counters live only in the object's memory: a reset
  // would start them again from zero (coldLoadDurationMs cannot tell, as a
  // tiny vault loads in about 0 ms either way).
  assert.equal(after.persistence.successfulSaveCount, recentBefore.persistence.successfulSaveCount, "not reloaded");
  assert.ok(after.persistence.successfulSaveCount >= 1, "the edit's save is still counted");
  assert.ok(after.svEcho.baselineSent > recentBefore.svEcho.baselineSent, "the raw socket's echoes, counted on top");
  const fresh = connectClient(server, vault, { token: TOKEN });
  await fresh.synced();
  assert.equal(noteText(fresh.doc, id), "keep me");
  assert.equal(fresh.doc.getMap("m").get("v"), undefined, "the refused value is not in the document");
  raw.close();
  a.close();
  fresh.close();
});

async function debug(vault) {
  const res = await fetch(`${server.url}/vault/${vault}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test("a value 999 levels deep is accepted, snapshotted and served after a restart", async () => {
  const vault = "deep-vault";
  const raw = await rawSocket(vault);
  raw.send(nestedFrame(999, 4343));
  await raw.echoesAtLeast(2);
  raw.close();
  const depthOf = (v) => { let d = 0; while (Array.isArray(v)) { v = v[0]; d++; } return d; };
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  assert.equal(depthOf(a.doc.getMap("m").get("v")), 999);
  a.close();
  const snap = await fetch(`${server.url}/vault/${vault}/snapshots`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` }, body: "{}" });
  assert.equal((await snap.json()).status, "created");
  assert.equal((await debug(vault)).documentLoaded, true);

  await server.stop();
  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  assert.equal(depthOf(b.doc.getMap("m").get("v")), 999, "stored and served again");
  b.close();
  assert.deepEqual(server.crashLines(), []);
});

test("a client's own x-partykit-room header cannot rename the room; an oversized _pk does not break the connection", async () => {
  const vault = "named-vault";
  const ws = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}&_pk=${encodeURIComponent("<x>".repeat(40))}`, {
    headers: { "x-partykit-room": "someone-else" },
  });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  ws.close();
  const info = await debug(vault);
  assert.equal(info.roomId, vault);
  assert.deepEqual(server.crashLines(), []);
});

test("one socket announcing 20 awareness states keeps 8; the others get a limit error and the next client sees 8", async () => {
  const vault = "awareness-vault";
  const raw = await rawSocket(vault);
  const errors = [];
  raw.on("message", (data, isBinary) => { if (!isBinary && data.toString().includes('"limit_exceeded"')) errors.push(data.toString()); });
  const pad = "x".repeat(4096);
  for (let i = 0; i < 20; i++) {
    const json = Buffer.from(JSON.stringify({ pad, i }));
    const update = [1, ...varuint(7000 + i), 1, ...varuint(json.length), ...json];
    raw.send(Buffer.from([1, ...varuint(update.length), ...update]));
  }
  const emitter = { on: (e, f) => raw.on("message", f), off: (e, f) => raw.off("message", f) };
  await until(emitter, "message", () => errors.length >= 12, 15000, "12 limit errors");
  assert.match(errors[0], /^__YPS:\{"type":"error","code":"limit_exceeded","message":"too many states for one connection"\}$/);
  assert.equal(raw.readyState, WebSocket.OPEN);
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  await until(b.provider.awareness, "change", () => b.provider.awareness.getStates().size >= 9, 15000, "the room's awareness");
  assert.equal(b.provider.awareness.getStates().size, 9, "8 states of the flooding socket plus the client's own");
  b.close();
  raw.close();
  assert.deepEqual(server.crashLines(), []);
});

test("100,000 nested arrays, then the delete of the outermost: refused or harmless, no reset, a second vault keeps its memory; ordinary nesting syncs", async () => {
  const vault = "deep-chain-vault";
  const other = "deep-chain-other";
  // A reset is told by the wasm memory: it never shrinks, so a 16 MB frame
  // (refused, but read into memory) first raises it far above what a fresh
  // instance reaches; after a reset it would start again from ~1.4 MB.
  // coldLoadDurationMs cannot tell, as a tiny vault loads in ~0 ms.
  const o = await rawSocket(other);
  const big = Buffer.alloc(16 * 1024 * 1024, 0xff);
  o.send(Buffer.concat([Buffer.from([0, 2, ...varuint(big.length)]), big]));
  await o.echoesAtLeast(2);
  const memoryBefore = (await debug(other)).wasmMemoryBytes;
  assert.ok(memoryBefore >= 16 * 1024 * 1024, `memory high-water mark ${memoryBefore}`);

  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  const id = addNote(a.doc, "keep.md", "keep me");
  await until(a.provider, "custom-message", () => a.echoes.length >= 3, 15000, "the edit's echo");

  // The finding, built with real Yjs: each array in the previous one.
  const deep = new Y.Doc();
  deep.clientID = 777;
  let parent = deep.getArray("chain");
  deep.transact(() => {
    for (let i = 0; i < 100_000; i++) {
      const child = new Y.Array();
      parent.push([child]);
      parent = child;
    }
  });
  const chain = Y.encodeStateAsUpdate(deep);
  // The 10-byte update deleting the outermost array (client 777, clock 0).
  const deleteRoot = Uint8Array.from([0, 1, ...varuint(777), 1, 0, 1]);
  const frame = (u) => Buffer.concat([Buffer.from([0, 2, ...varuint(u.length)]), Buffer.from(u)]);
  const raw = await rawSocket(vault);
  raw.send(frame(chain));
  raw.send(frame(deleteRoot));
  await raw.echoesAtLeast(3);
  await server.waitForOutput(/refused frame: invalid update at byte \d+: shared types nested too deeply/);
  assert.deepEqual(server.crashLines(), [], "no panic, no instance reset");
  assert.equal(raw.readyState, WebSocket.OPEN, "the socket stays open");

  assert.ok((await debug(vault)).wasmMemoryBytes >= memoryBefore, "the instance was not reset");
  assert.ok((await debug(other)).wasmMemoryBytes >= memoryBefore, "the second vault's instance was not reset");
  // The second vault still works.
  const b = connectClient(server, other, { token: TOKEN });
  await b.synced();
  const otherId = addNote(b.doc, "other.md", "still here");
  await until(b.provider, "custom-message", () => b.echoes.length >= 3, 15000, "the other vault's echo");

  // A few levels of ordinary nesting sync to a fresh client.
  a.doc.transact(() => {
    const outer = new Y.Map();
    a.doc.getMap("nested").set("outer", outer);
    const inner = new Y.Map();
    outer.set("inner", inner);
    inner.set("text", new Y.Text("three levels"));
  });
  await until(a.provider, "custom-message", () => a.echoes.length >= 4, 15000, "the nesting's echo");
  const fresh = connectClient(server, vault, { token: TOKEN });
  await fresh.synced();
  assert.equal(noteText(fresh.doc, id), "keep me");
  assert.equal(fresh.doc.getMap("nested").get("outer").get("inner").get("text").toString(), "three levels");
  assert.equal(fresh.doc.getArray("chain").length, 0, "nothing of the chain was applied");
  const freshOther = connectClient(server, other, { token: TOKEN });
  await freshOther.synced();
  assert.equal(noteText(freshOther.doc, otherId), "still here");
  for (const c of [raw, o]) c.close();
  for (const c of [a, b, fresh, freshOther]) c.close();
});

test("a chain at the nesting limit (128) is accepted, deleted, reloaded and served; one level more is refused", async () => {
  const vault = "limit-chain-vault";
  /** Client `client`'s update of `levels` arrays, each in the previous, under root array `name`. */
  const chainUpdate = (client, name, levels) => {
    const d = new Y.Doc();
    d.clientID = client;
    let parent = d.getArray(name);
    d.transact(() => { for (let i = 0; i < levels; i++) { const child = new Y.Array(); parent.push([child]); parent = child; } });
    return Y.encodeStateAsUpdate(d);
  };
  const frame = (u) => Buffer.concat([Buffer.from([0, 2, ...varuint(u.length)]), Buffer.from(u)]);
  const depthOf = (arr) => { let d = 0; while (arr.length > 0) { arr = arr.get(0); d++; } return d; };
  const raw = await rawSocket(vault);
  raw.send(frame(chainUpdate(901, "at-limit", 128)));
  raw.send(frame(chainUpdate(902, "past-limit", 129)));
  await raw.echoesAtLeast(3);
  await server.waitForOutput(/refused frame: invalid update at byte \d+: shared types nested too deeply/);
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  assert.equal(depthOf(a.doc.getArray("at-limit")), 128, "128 levels are accepted");
  assert.equal(a.doc.getArray("past-limit").length, 0, "129 levels are refused");
  a.close();

  // Delete the outermost array (client 901, clock 0): yrs recurses once per
  // level to delete and collect the chain, here 128 times.
  raw.send(frame(Uint8Array.from([0, 1, ...varuint(901), 1, 0, 1])));
  await raw.echoesAtLeast(4);
  raw.close();
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  assert.equal(b.doc.getArray("at-limit").length, 0, "the delete applied");
  b.close();

  // The stored rows hold the chain and its delete; a reload replays both.
  await server.stop();
  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const c = connectClient(server, vault, { token: TOKEN });
  await c.synced();
  assert.equal(c.doc.getArray("at-limit").length, 0, "served after a restart");
  c.close();
  assert.deepEqual(server.crashLines(), []);
});
