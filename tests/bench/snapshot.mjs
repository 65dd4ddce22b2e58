// Times a snapshot of a large vault inside its room and measures how much
// wasm memory it adds (issue: snapshots next to the loaded document must not
// hold a second full-size copy). For each run: a cold server start, a
// returning client (already holding the vault) makes the room load its
// document with a tiny sync, then `POST /snapshots/maybe` (daily) and, after
// one edit, `POST /snapshots` (manual). wasm memory comes from the room's
// debug JSON before and after; it never shrinks, so "added" is the new
// high-water mark over the loaded room's. Prints one JSON line.
//   node tests/bench/snapshot.mjs [--notes 10000] [--note-bytes 2048] [--runs 3]
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { loadavg } from "node:os";
import { gunzipSync } from "node:zlib";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, addNote, until, echoedStateVector, dominates } from "../e2e/clients.mjs";
import { median } from "./metrics.mjs";
import { noteBody, notePath } from "./content.mjs";

const { values } = parseArgs({ options: {
  notes: { type: "string", default: "10000" }, "note-bytes": { type: "string", default: "2048" }, runs: { type: "string", default: "3" },
} });
const NOTES = Number(values.notes), NOTE_BYTES = Number(values["note-bytes"]), RUNS = Number(values.runs);
const TOKEN = "bench-snapshot-token-0123456789abcdef";
const VAULT = "bench-snapshot-vault";
const WAIT = 60_000 + NOTES * 15;
const dir = tempDir("yaos-bench-snapshot-");
const log = (...a) => console.error("[snapshot bench]", ...a);
let server = null;

const api = async (method, path, body) => {
  const res = await fetch(`${server.url}/vault/${VAULT}/${path}`, { method, body, headers: { Authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
};
const debug = async () => (await api("GET", "debug/recent")).json();
const wasm = async () => (await debug()).wasmMemoryBytes;
/** Resolves once a postApply echo covers everything `client` holds (the server stored it). */
const echoCovering = (client) => {
  const sv = Y.decodeStateVector(Y.encodeStateVector(client.doc));
  return until(client.provider, "custom-message", () => client.echoes.some((e) => dominates(echoedStateVector(e), sv)), WAIT, "a covering echo");
};
const timed = async (fn) => { const t0 = performance.now(); const out = await fn(); return [performance.now() - t0, out]; };

try {
  const doc = new Y.Doc();
  for (let i = 0; i < NOTES; i++) addNote(doc, notePath(i), noteBody(i, NOTE_BYTES));
  const update = Y.encodeStateAsUpdate(doc);
  log(`vault: ${NOTES} notes, ${update.length} bytes`);

  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const seeder = connectClient(server, VAULT, { token: TOKEN });
  await seeder.synced();
  Y.applyUpdate(seeder.doc, update);
  await echoCovering(seeder);
  seeder.close();

  const runs = [];
  for (let run = 0; run < RUNS; run++) {
    await server.stop();
    server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
    const beforeLoad = await wasm();
    const client = connectClient(server, VAULT, { token: TOKEN, doc: new Y.Doc() });
    Y.applyUpdate(client.doc, update);
    await client.synced();
    const loadedDebug = await debug();
    if (loadedDebug.documentSummary?.activePathCount !== NOTES) throw new Error(`the room loaded ${loadedDebug.documentSummary?.activePathCount} notes`);
    const loaded = loadedDebug.wasmMemoryBytes;
    const edit = async (text) => {
      client.doc.getMap("idToText").get(`id-${notePath(0)}`).insert(0, text);
      await echoCovering(client);
    };
    // After a restart with nothing changed, the daily is a noop: the
    // full-update hash is stable across processes.
    let noopMs = null;
    if (run > 0) {
      const [t, noop] = await timed(async () => (await api("POST", "snapshots/maybe", "{}")).json());
      if (noop.status !== "noop") throw new Error(`maybe after a restart answered ${JSON.stringify(noop)}`);
      noopMs = Math.round(t);
    }
    await edit(`run ${run} `);
    const [dailyMs, daily] = await timed(async () => (await api("POST", "snapshots/maybe", "{}")).json());
    if (daily.status !== "created") throw new Error(`maybe answered ${JSON.stringify(daily)}`);
    const afterDaily = await wasm();
    await edit(`manual ${run} `);
    const [manualMs, manual] = await timed(async () => (await api("POST", "snapshots", "{}")).json());
    const afterManual = await wasm();
    const [downloadMs, payload] = await timed(async () => Buffer.from(await (await api("GET", `snapshots/${manual.snapshotId}`)).arrayBuffer()));
    const check = new Y.Doc();
    Y.applyUpdate(check, gunzipSync(payload));
    if (check.getMap("idToText").get(`id-${notePath(0)}`).toString() !== client.doc.getMap("idToText").get(`id-${notePath(0)}`).toString()) {
      throw new Error("the downloaded snapshot differs from the live document");
    }
    client.close();
    const r = {
      wasmBeforeLoad: beforeLoad, wasmLoaded: loaded, wasmAfterDaily: afterDaily, wasmAfterManual: afterManual,
      addedByDaily: afterDaily - loaded, addedBySnapshots: afterManual - loaded,
      noopMs, dailyMs: Math.round(dailyMs), manualMs: Math.round(manualMs), downloadMs: Math.round(downloadMs),
      crdtRawSizeBytes: daily.index.crdtRawSizeBytes, crdtSizeBytes: daily.index.crdtSizeBytes,
    };
    log(`run ${run + 1}: ${JSON.stringify(r)}`);
    runs.push(r);
  }
  const med = (k) => median(runs.map((r) => r[k]));
  console.log(JSON.stringify({
    notes: NOTES, noteBytes: NOTE_BYTES, vaultUpdateBytes: update.length, runs: RUNS, loadAvgAtEnd: loadavg()[0],
    median: {
      noopMs: median(runs.slice(1).map((r) => r.noopMs)), dailyMs: med("dailyMs"), manualMs: med("manualMs"), downloadMs: med("downloadMs"),
      wasmLoaded: med("wasmLoaded"), addedByDaily: med("addedByDaily"), addedBySnapshots: med("addedBySnapshots"),
    },
    crdtRawSizeBytes: runs[0].crdtRawSizeBytes, crdtSizeBytes: runs[0].crdtSizeBytes, each: runs,
  }));
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
