// The vault room with real y-partyserver providers: convergence, late
// joiners, awareness, SV echoes, and resilience to malformed frames.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer } from "./harness.mjs";
import {
  Y, connectClient, docUntil, echoCount, echoedStateVector, dominates, addNote, noteText,
  sameContent, until,
} from "./clients.mjs";

const TOKEN = "e2e-room-sync-token-0123456789abcdef";
let server;
before(async () => { server = await startServer({ vars: { SYNC_TOKEN: TOKEN } }); });
after(async () => { await server?.stop(); });

const clients = [];
function client(vault, opts = {}) {
  const c = connectClient(server, vault, { token: TOKEN, ...opts });
  clients.push(c);
  return c;
}
after(() => { for (const c of clients) c.close(); });

test("two, then three clients editing different and the same notes converge; a late client gets everything", async () => {
  const vault = "converge-vault";
  const a = client(vault), b = client(vault);
  await Promise.all([a.synced(), b.synced()]);
  const idA = addNote(a.doc, "a.md", "from a");
  const idB = addNote(b.doc, "b.md", "from b");
  await docUntil(a.doc, (d) => noteText(d, idB) === "from b");
  await docUntil(b.doc, (d) => noteText(d, idA) === "from a");

  const c = client(vault);
  await c.synced();
  assert.equal(noteText(c.doc, idA), "from a");
  // All three edit the same note concurrently.
  a.doc.getMap("idToText").get(idA).insert(0, "A");
  b.doc.getMap("idToText").get(idA).insert(0, "B");
  c.doc.getMap("idToText").get(idA).insert(0, "C");
  const all = [a, b, c];
  // Each doc waits on its own updates until it holds all three inserts.
  const hasAll = (d) => noteText(d, idA)?.length === "from a".length + 3;
  await Promise.all(all.map((x) => docUntil(x.doc, hasAll, 15000, "three-way convergence")));
  for (const x of all) assert.ok(sameContent(x.doc, a.doc), "identical documents");
  for (const ch of "ABC") assert.ok(noteText(a.doc, idA).includes(ch));

  const late = client(vault);
  await late.synced();
  assert.ok(sameContent(late.doc, a.doc), "late client receives everything");
});

test("awareness reaches other clients and disappears when its client disconnects", async () => {
  const vault = "awareness-vault";
  const a = client(vault), b = client(vault);
  await Promise.all([a.synced(), b.synced()]);
  a.provider.awareness.setLocalStateField("user", { name: "alice" });
  const aId = a.doc.clientID;
  const seen = () => b.provider.awareness.getStates().get(aId)?.user?.name === "alice";
  await until(b.provider.awareness, "change", seen, 15000, "b sees a's awareness");
  // A late joiner receives the awareness the server holds on connect.
  const c = client(vault);
  await until(c.provider.awareness, "change", () => c.provider.awareness.getStates().get(aId)?.user?.name === "alice", 15000, "c sees a on connect");
  a.provider.disconnect();
  await until(b.provider.awareness, "change", () => !b.provider.awareness.getStates().has(aId), 15000, "a's awareness removed");
  assert.equal(b.provider.awareness.getStates().has(aId), false);
});

test("baseline and postApply echoes arrive as __YPS: custom messages and dominate the sender's edit", async () => {
  const vault = "echo-vault";
  const a = client(vault);
  await a.synced();
  await echoCount(a, 1);
  assert.equal(a.customMessages[0].startsWith("{"), true, "prefix stripped by the provider");
  const baseline = a.echoes[0];
  assert.deepEqual(Object.keys(baseline), ["type", "schema", "sv"]);
  assert.equal(baseline.schema, 1);
  const before = a.echoes.length;
  addNote(a.doc, "echo.md", "hello");
  const mine = Y.decodeStateVector(Y.encodeStateVector(a.doc));
  await until(a.provider, "custom-message", () => a.echoes.slice(before).some((e) => dominates(echoedStateVector(e), mine)), 15000, "dominating postApply echo");
});

test("a malformed binary frame and an unknown outer type leave the socket open and the document intact", async () => {
  const vault = "malformed-vault";
  const a = client(vault);
  await a.synced();
  const id = addNote(a.doc, "keep.md", "keep me");
  const n = a.echoes.length;
  await until(a.provider, "custom-message", () => a.echoes.length > n, 15000, "echo for the edit");

  const raw = new WebSocket(`${server.wsUrl}/vault/sync/${vault}?schemaVersion=3&token=${TOKEN}`);
  const received = [];
  raw.on("message", (data, isBinary) => received.push({ data, isBinary }));
  await new Promise((resolve, reject) => { raw.once("open", resolve); raw.once("error", reject); });
  raw.send(Buffer.from([0x00, 0x02, 0xff, 0xff, 0xff])); // sync/update with a truncated length
  raw.send(Buffer.from([0x07, 0x01, 0x02]));             // unknown outer type 7
  raw.send(Buffer.from([0x00, 0x02, 0x05, 1, 2, 3, 4, 5])); // an update that is not a Yjs update
  raw.send("not a control message");
  // The socket still works: a Step1 gets a Step2 answer.
  const step1 = Buffer.from([0x00, 0x00, 0x01, 0x00]);
  const before = received.length;
  raw.send(step1);
  await until({ on: (e, f) => raw.on("message", f), off: (e, f) => raw.off("message", f) }, "message",
    () => received.slice(before).some((m) => m.isBinary && m.data[0] === 0 && m.data[1] === 1), 15000, "Step2 after garbage");
  assert.equal(raw.readyState, WebSocket.OPEN);
  raw.close();

  const fresh = client(vault);
  await fresh.synced();
  assert.equal(noteText(fresh.doc, id), "keep me");
});
