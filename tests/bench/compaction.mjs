// Echo latency around compactions of a large vault: one client seeds N
// notes, the server restarts (so the room's policy is scaled to the vault),
// then a writer edits its own note at a steady pace (--interval ms apart,
// --edit-bytes each) long enough for the journal to cross the compaction
// threshold several times. Each edit's latency is send → the postApply echo
// that covers it. Reports the latency summary and maximum over every edit,
// the slowest edits, and how many compactions ran (the journal count falling
// between samples of the debug JSON every 20 edits). Prints one JSON line.
//   node tests/bench/compaction.mjs [--notes 10000] [--edits 600] [--edit-bytes 16384] [--interval 25]
//     [--burst N --pause MS]   N edits, then a pause of MS (typing with breaks); default: no pauses
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, addNote, echoedStateVector, dominates, until } from "../e2e/clients.mjs";
import { summarize, ms } from "./metrics.mjs";
import { noteBody, notePath } from "./content.mjs";

const { values } = parseArgs({ options: {
  notes: { type: "string", default: "10000" }, edits: { type: "string", default: "600" },
  "edit-bytes": { type: "string", default: "16384" }, interval: { type: "string", default: "25" },
  burst: { type: "string", default: "0" }, pause: { type: "string", default: "0" },
} });
const BURST = Number(values.burst), PAUSE = Number(values.pause);
const NOTES = Number(values.notes), EDITS = Number(values.edits);
const EDIT_BYTES = Number(values["edit-bytes"]), INTERVAL = Number(values.interval);
const TOKEN = "bench-compaction-token-0123456789abcdef";
const VAULT = "bench-compaction-vault";
const dir = tempDir("yaos-bench-compaction-");
const log = (m) => process.stderr.write(`[compaction-bench] ${m}\n`);
let server = null;

async function debug() {
  const res = await fetch(`${server.url}/vault/${VAULT}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return res.json();
}

try {
  const doc = new Y.Doc();
  for (let i = 0; i < NOTES; i++) addNote(doc, notePath(i), noteBody(i, 2048));
  const seed = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const seeder = connectClient(server, VAULT, { token: TOKEN });
  await seeder.synced();
  Y.applyUpdate(seeder.doc, seed);
  const seeded = Y.decodeStateVector(Y.encodeStateVector(seeder.doc));
  await until(seeder.provider, "custom-message", () => seeder.echoes.some((e) => dominates(echoedStateVector(e), seeded)), 300000, "the seed's echo");
  seeder.close();
  await server.stop();
  log(`seeded ${NOTES} notes (${seed.length} bytes); restarting`);

  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const w = connectClient(server, VAULT, { token: TOKEN });
  await w.synced();
  const me = w.doc.clientID;
  const id = addNote(w.doc, "bench/writer.md", "");
  await until(w.provider, "custom-message", () => (echoedStateVector(w.echoes.at(-1)).get(me) ?? 0) > 0, 60000, "the writer's first echo");
  const text = w.doc.getMap("idToText").get(id);
  // Each edit: [sent at, clock after it, echoed at].
  const edits = [];
  w.provider.on("custom-message", () => {
    const clock = echoedStateVector(w.echoes.at(-1)).get(me) ?? 0;
    const now = performance.now();
    for (const e of edits) if (e[2] === null && e[1] <= clock) e[2] = now;
  });
  const before = await debug();
  const chunk = "x".repeat(EDIT_BYTES);
  let compactions = 0;
  let lastJournal = before.persistence.journalEntryCount;
  for (let i = 0; i < EDITS; i++) {
    if (i % 20 === 19) {
      const journal = (await debug()).persistence.journalEntryCount;
      if (journal < lastJournal) compactions++;
      lastJournal = journal;
    }
    text.insert(text.length, chunk);
    edits.push([performance.now(), Y.decodeStateVector(Y.encodeStateVector(w.doc)).get(me), null]);
    const breather = BURST > 0 && i % BURST === BURST - 1 ? PAUSE : 0;
    await new Promise((r) => setTimeout(r, INTERVAL + breather)); // the workload's pace, not a wait for the server
  }
  await until(w.provider, "custom-message", () => edits.every((e) => e[2] !== null), 120000, "every echo");
  const after = await debug();
  const latencies = edits.map(([sent, , echoed]) => echoed - sent);
  const slow = latencies.map((l, i) => [l, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
  console.log(JSON.stringify({
    notes: NOTES, vaultUpdateBytes: seed.length, edits: EDITS, editBytes: EDIT_BYTES, intervalMs: INTERVAL,
    burst: BURST, pauseMs: PAUSE,
    journalBefore: before.persistence.journalEntryCount, journalAfter: after.persistence.journalEntryCount,
    lastCompactionReason: after.persistence.lastCompactionReason, compactions,
    echoLatencyMs: { ...summarize(latencies), max: ms(Math.max(...latencies)) },
    slowestEdits: slow.map(([l, i]) => ({ index: i, ms: ms(l) })),
    wasmMemoryBytes: after.wasmMemoryBytes, loadAverage: loadavg()[0],
    activePaths: after.documentSummary?.activePathCount, storageMode: after.storage.mode,
    // A stall of about a second is a reconnect: the object restarted (a
    // crash) or wrangler reloaded the worker (build/ changed). Either makes
    // the run invalid; both are counted here.
    serverReloads: server.output.match(/Reloading local server/g)?.length ?? 0,
    crashLines: server.crashLines(),
    postApplyEchoes: after.svEcho.postApplySent, saves: after.persistence.successfulSaveCount,
  }));
  w.close();
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
