// Durability against the real server: restarts on the same persist
// directory, SIGKILL of workerd right after postApply echoes, and large
// pastes that must take the checkpoint path.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, prng } from "./harness.mjs";
import {
  Y, connectClient, docUntil, echoedStateVector, coveringEcho, addNote, noteText, sameContent, until,
} from "./clients.mjs";

const TOKEN = "e2e-durability-token-0123456789abcdef";
const vars = { SYNC_TOKEN: TOKEN };
const running = new Set();
after(async () => { for (const s of running) await s.stop(); });

async function start(persistDir) {
  const s = await startServer({ persistDir, vars });
  running.add(s);
  return s;
}
async function stop(s) { await s.stop(); running.delete(s); }

/** Resolves once the client has an echo whose state vector covers its own. */
function echoCovering(c) {
  return coveringEcho(c, 20000, "covering postApply echo");
}

async function debug(server, vault) {
  const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test("after a restart a fresh client receives the whole vault, including a deletion-only change", async () => {
  const dir = tempDir();
  let server = await start(dir);
  const vault = "restart-vault";
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  const keep = addNote(a.doc, "keep.md", "keep this text");
  const trimmed = addNote(a.doc, "trim.md", "0123456789");
  await echoCovering(a);
  // Deletion only: the state vector does not move.
  const svBefore = Y.encodeStateVector(a.doc);
  const echoesBefore = a.echoes.length;
  a.doc.getMap("idToText").get(trimmed).delete(0, 5);
  assert.deepEqual(Y.encodeStateVector(a.doc), svBefore);
  await until(a.provider, "custom-message", () => a.echoes.length > echoesBefore, 20000, "echo after the deletion");
  const expected = new Y.Doc();
  Y.applyUpdate(expected, Y.encodeStateAsUpdate(a.doc));
  a.close();
  await stop(server);

  server = await start(dir);
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  assert.equal(noteText(b.doc, keep), "keep this text");
  assert.equal(noteText(b.doc, trimmed), "56789");
  assert.ok(sameContent(b.doc, expected));
  b.close();
  await stop(server);
});

test("SIGKILL of workerd right after the last postApply echo loses no echoed edit (3 rounds)", async () => {
  const dir = tempDir();
  const vault = "sigkill-vault";
  const written = [];
  for (let round = 0; round < 3; round++) {
    const server = await start(dir);
    const c = connectClient(server, vault, { token: TOKEN });
    await c.synced();
    for (const [id, text] of written) assert.equal(noteText(c.doc, id), text, `round ${round}: ${id} survived`);
    const workerd = server.workerdPids();
    assert.ok(workerd.length > 0, "found the workerd process");
    for (let i = 0; i < 5; i++) {
      const text = `round ${round} edit ${i}`;
      written.push([addNote(c.doc, `r${round}-${i}.md`, text), text]);
    }
    // The PIDs were looked up before: the kill follows the echo at once,
    // with nothing awaited in between that could let a late write land.
    await echoCovering(c);
    await server.killWorkerd(workerd);
    running.delete(server);
    c.close();
  }
  const server = await start(dir);
  const c = connectClient(server, vault, { token: TOKEN });
  await c.synced();
  for (const [id, text] of written) assert.equal(noteText(c.doc, id), text, `${id} survived`);
  c.close();
  await stop(server);
});

test("large pastes go through the checkpoint path, survive a restart and show in debug", async () => {
  const dir = tempDir();
  let server = await start(dir);
  const vault = "paste-vault";
  const a = connectClient(server, vault, { token: TOKEN });
  await a.synced();
  // ~1.8 MiB: over the 1.5 MiB journal row limit, under the 2 MiB delta limit.
  const mid = addNote(a.doc, "mid.md", "m".repeat(1_800_000));
  await echoCovering(a);
  let info = await debug(server, vault);
  assert.equal(info.storage.oversizedDeltaCount, 1);
  assert.equal(info.persistence.checkpointFallbackCount, 1);
  // 2 MiB: over the delta threshold, straight to a checkpoint.
  const big = addNote(a.doc, "big.md", "b".repeat(2 * 1024 * 1024));
  await echoCovering(a);
  info = await debug(server, vault);
  assert.equal(info.persistence.checkpointFallbackCount, 2);
  assert.equal(info.persistence.status, "healthy");
  assert.equal(info.persistence.journalEntryCount, 0);
  const events = info.recent.map((e) => e.event);
  assert.ok(events.includes("server.save.append_oversized"), events.join(","));
  assert.ok(events.includes("server.save.checkpoint_fallback_succeeded"), events.join(","));
  a.close();
  await stop(server);

  server = await start(dir);
  const b = connectClient(server, vault, { token: TOKEN });
  await b.synced();
  assert.equal(noteText(b.doc, mid)?.length, 1_800_000);
  assert.equal(noteText(b.doc, big)?.length, 2 * 1024 * 1024);
  b.close();
  await stop(server);
});

test("SIGKILL at random moments of a write-heavy run, on the frame that makes compaction due and after a > 2 MiB checkpoint fallback, loses no acknowledged edit", async (t) => {
  const seed = Number(process.env.KILL_SEED ?? 0x5eed);
  t.diagnostic(`KILL_SEED=${seed}`);
  const random = prng(seed);
  const dir = tempDir();
  const vault = "kill-rounds-vault";
  /** Every edit sent: [fileId, text, clientID, clock after the edit]. */
  const sent = [];
  /** The edits a postApply echo covered: these must survive. */
  const acknowledged = new Map();
  // Round kinds: a random echo count in a stream of writes; the frame that
  // crosses the compaction threshold (a ~3 MB snapshot makes each compaction
  // a rewrite of several chunks); a 2.2 MiB paste killed right after its
  // echo, and one killed right after it was sent.
  const rounds = ["stream", "compaction", "stream", "paste-echoed", "compaction", "paste-sent", "stream"];
  for (let round = 0; round <= rounds.length; round++) {
    const server = await start(dir);
    const c = connectClient(server, vault, { token: TOKEN });
    await c.synced();
    for (const [id, text] of acknowledged) assert.equal(noteText(c.doc, id), text, `round ${round}: acknowledged ${id} survived`);
    if (round === rounds.length) { c.close(); await stop(server); break; }
    const kind = rounds[round];
    const me = c.doc.clientID;
    const edit = (size) => {
      const path = `r${round}-${sent.length}.md`;
      const text = `${path} `.padEnd(size, "abcdefghij"[sent.length % 10]);
      const id = addNote(c.doc, path, text);
      sent.push([id, text, me, Y.decodeStateVector(Y.encodeStateVector(c.doc)).get(me)]);
    };
    const acknowledge = () => {
      const last = c.echoes.at(-1);
      if (!last) return;
      const clock = echoedStateVector(last).get(me) ?? 0;
      for (const [id, text, client, after] of sent) if (client === me && after <= clock) acknowledged.set(id, text);
    };
    c.provider.on("custom-message", acknowledge);
    const acknowledgedBefore = acknowledged.size;
    if (round === 0) { edit(3_000_000); await echoCovering(c); } // the large snapshot compactions rewrite
    const workerd = server.workerdPids();
    if (kind === "stream") {
      // Write continuously; kill once a random number of this round's edits
      // were acknowledged, with writes still in flight. (Counted in edits,
      // not echoes: the echo of the connect's own SyncStep2 may still be on
      // its way and covers no edit of this round.)
      const target = 10 + Math.floor(random() * 80);
      let writing = true;
      const writer = (async () => { while (writing) { edit(2_000 + Math.floor(random() * 18_000)); await new Promise(setImmediate); } })();
      try {
        await until(c.provider, "custom-message", () => acknowledged.size - acknowledgedBefore >= target, 60000, `${target} acknowledged edits`);
        acknowledge();
        await server.killWorkerd(workerd);
      } finally {
        writing = false; // also when the wait times out: the writer must end
        await writer;
      }
      // At least 10 of this round's edits were acknowledged before the kill.
      assert.ok(acknowledged.size - acknowledgedBefore >= 10, `round ${round}: ${acknowledged.size - acknowledgedBefore} acknowledged`);
    } else if (kind === "compaction") {
      // Fill the journal to just under the 1 MiB compaction threshold, then
      // send the edit that crosses it and kill as soon as it is on the wire.
      const info = await debug(server, vault);
      let bytes = info.persistence.journalBytes ?? 0;
      while (bytes < 1_000_000) { edit(20_000); bytes += 20_000; await echoCovering(c); }
      acknowledge();
      edit(100_000); // the provider sends its frame synchronously, from the update event
      await server.killWorkerd(workerd);
    } else {
      edit(2_200_000); // over the 2 MiB delta threshold: straight to a checkpoint
      if (kind === "paste-echoed") { await echoCovering(c); acknowledge(); }
      await server.killWorkerd(workerd);
    }
    running.delete(server);
    c.close();
  }
  t.diagnostic(`${sent.length} edits sent, ${acknowledged.size} acknowledged`);
  // Three stream rounds of at least 10 each, two journals filled to the
  // compaction threshold (50 edits of 20 KB each from empty), a paste.
  assert.ok(acknowledged.size >= 100, `${acknowledged.size} acknowledged edits to lose`);
});

test("SIGKILL between the echo of the frame that makes compaction due and the deferred compaction loses nothing; the next activation compacts", async () => {
  const dir = tempDir();
  const vault = "deferred-compaction-vault";
  let server = await start(dir);
  const c = connectClient(server, vault, { token: TOKEN });
  await c.synced();
  const notes = [];
  // 51 journal entries: one past the small-vault threshold of 50.
  for (let i = 0; i <= 50; i++) {
    notes.push([addNote(c.doc, `d${i}.md`, `deferred ${i}`), `deferred ${i}`]);
    await echoCovering(c);
  }
  const workerd = server.workerdPids();
  const info = await debug(server, vault);
  assert.equal(info.persistence.journalEntryCount, 51, "acknowledged with the compaction still to come");
  await server.killWorkerd(workerd);
  running.delete(server);
  c.close();

  server = await start(dir);
  const b = connectClient(server, vault, { token: TOKEN });
  try {
    await b.synced();
    for (const [id, text] of notes) assert.equal(noteText(b.doc, id), text, `${id} survived`);
    // The compaction runs in an alarm of its own, which no client can see:
    // poll the debug JSON, a bounded number of times.
    let after = await debug(server, vault);
    for (let i = 0; i < 100 && after.persistence.journalEntryCount !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await debug(server, vault);
    }
    assert.equal(after.persistence.journalEntryCount, 0, "the next activation compacted");
    assert.equal(after.persistence.lastCompactionReason, "entry_count_exceeded");
  } finally {
    b.close();
    await stop(server);
  }
});
