// The vault ceiling: runs a vault through every heavy phase at growing
// sizes and reports, per size and phase, the wasm memory the vault's object
// reached and the peak RSS of the workerd processes, and the first size at
// which a phase went over the limit or failed. Each phase runs in a fresh
// isolate (the server restarts between phases) because wasm memory never
// shrinks: the figure read after a phase is that phase's peak, on top of
// the load it needed. Prints one JSON line; progress goes to stderr.
//
//   node tests/bench/ceiling.mjs [--sizes 5000,10000,...] [--batch 500]
//     [--note-bytes 2048] [--limit-mb 120] [--skip-migration]
//
// Phases:
// - seed: one client adds the notes in transactions of --batch notes (500:
//   a 1.2 MB update, under the 2 MiB every room takes; a room holding over
//   about 20,000 notes refuses a 2,500-note update for its memory), each
//   acknowledged before the next (each is one update frame);
// - freshSync: restart, then a client with an empty document syncs;
// - returningSync: restart, then a client already holding the vault syncs;
// - compaction: in the same activation, one edit, then `debug/compact`;
// - snapshot: restart, then a manual snapshot (`POST snapshots`) to R2
//   (payload, index, and the notes pack and manifest);
// - browse: restart, then that snapshot's notes against the live vault
//   (`GET snapshots/<id>/files`) and one note's text;
// - restore: after a client (unmeasured, a server of its own) deleted
//   --restore/2 notes and overwrote as many, restart, then
//   `POST snapshots/<id>/restore` of those notes (a manual snapshot first,
//   then one durable edit);
// - migration: the legacy-writer fixture lays the vault out in the deployed
//   key-value layout, then the server starts and a fresh client syncs.
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { loadavg } from "node:os";
import { startServer, tempDir, ROOT } from "../e2e/harness.mjs";
import { Y, connectClient, addNote, until, coveringEcho } from "../e2e/clients.mjs";
import { RssSampler } from "./metrics.mjs";
import { seedInBatches, notePath } from "./content.mjs";
import { deleteNote, overwriteNote } from "../e2e/plugin_notes.mjs";

const { values: opts } = parseArgs({ options: {
  sizes: { type: "string", default: "5000,10000,15000,20000,25000,30000" },
  batch: { type: "string", default: "500" },
  "note-bytes": { type: "string", default: "2048" },
  "limit-mb": { type: "string", default: "120" },
  "skip-migration": { type: "boolean", default: false },
  restore: { type: "string", default: "100" },
} });
const SIZES = opts.sizes.split(",").map(Number);
const BATCH = Number(opts.batch);
const NOTE_BYTES = Number(opts["note-bytes"]);
const LIMIT_BYTES = Number(opts["limit-mb"]) * 1e6;
const TOKEN = "bench-ceiling-token-0123456789abcdef";
const VAULT = "ceiling-vault";
// PIECE=bytes sets YAOS_SYNC_PIECE_BYTES (the fresh sync's piece size).
const VARS = { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "1", ...(process.env.PIECE ? { YAOS_SYNC_PIECE_BYTES: process.env.PIECE } : {}) };

const started = performance.now();
const log = (...args) => console.error(`[ceiling ${((performance.now() - started) / 1000).toFixed(0)}s]`, ...args);
process.setMaxListeners(100);

async function api(server, method, path, body = "{}") {
  const res = await fetch(`${server.url}/vault/${VAULT}/${path}`, { method, headers: { Authorization: `Bearer ${TOKEN}` }, body: method === "POST" ? body : undefined });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Runs one phase on a server of its own; returns its figures. */
async function phase(name, persistDir, body, serverOptions = { vars: VARS }) {
  const server = await startServer({ persistDir, ...serverOptions });
  const sampler = new RssSampler(250);
  sampler.watch(server);
  const t0 = performance.now();
  try {
    const extra = await body(server);
    const ms = Math.round(performance.now() - t0);
    const debug = await api(server, "GET", "debug/recent");
    sampler.sample();
    const figures = { ms, wasmMemoryBytes: debug.wasmMemoryBytes, workerdPeakRssBytes: Math.max(sampler.peakHwm, sampler.peakRss),
      serverLoadMs: debug.storage.coldLoadDurationMs, ...extra };
    log(`${name}: ${ms} ms, wasm ${(figures.wasmMemoryBytes / 1e6).toFixed(1)} MB`);
    return figures;
  } catch (error) {
    log(`${name} FAILED: ${error.message}`);
    return { failed: String(error.message ?? error), crashLines: server.crashLines?.() ?? [] };
  } finally {
    sampler.stop();
    await server.stop();
  }
}

async function measure(notes) {
  const wait = 60_000 + notes * 20;
  const dir = tempDir("yaos-ceiling-");
  const row = { notes, updateBytes: null, phases: {} };
  let vault = null; // the seeding client's final state
  try {
    row.phases.seed = await phase("seed", dir, async (server) => {
      const a = connectClient(server, VAULT, { token: TOKEN });
      await until(a.provider, "synced", () => a.provider.synced, 15_000, "synced");
      await seedInBatches(a, notes, { batch: BATCH, noteBytes: NOTE_BYTES, ms: wait });
      vault = Y.encodeStateAsUpdate(a.doc);
      a.close();
      return { batches: Math.ceil(notes / BATCH) };
    });
    if (!vault) return row;
    row.updateBytes = vault.length;
    const syncs = async (server, doc) => {
      const c = connectClient(server, VAULT, { token: TOKEN, doc });
      const t0 = performance.now();
      await until(c.provider, "synced", () => c.provider.synced, wait, "synced");
      const syncedMs = Math.round(performance.now() - t0);
      const got = c.doc.getMap("idToText").size;
      if (got !== notes) throw new Error(`synced ${got} notes, expected ${notes}`);
      return { c, syncedMs };
    };
    row.phases.freshSync = await phase("freshSync", dir, async (server) => {
      const { c, syncedMs } = await syncs(server, new Y.Doc());
      c.close();
      // The server's own account: frames and bytes sent from the stored rows, and how long that took.
      const sent = (await api(server, "GET", "debug/recent")).recent.find((e) => e.event === "server.sync.stored_state");
      return { syncedMs, storedSync: sent ? { frames: sent.frames, bytes: sent.bytes, durationMs: sent.durationMs } : null };
    });
    const holding = () => { const d = new Y.Doc(); Y.applyUpdate(d, vault); return d; };
    row.phases.returningSync = await phase("returningSync", dir, async (server) => {
      const { c, syncedMs } = await syncs(server, holding());
      c.close();
      return { syncedMs };
    });
    row.phases.compaction = await phase("compaction", dir, async (server) => {
      const { c } = await syncs(server, holding());
      addNote(c.doc, "ceiling-edit.md", "one edit, so the journal is not empty");
      await coveringEcho(c, wait);
      c.close();
      const t0 = performance.now();
      const result = await api(server, "POST", "debug/compact");
      return { compactMs: Math.round(performance.now() - t0), result: result.status ?? result.outcome ?? null };
    });
    let snapshotId = null;
    row.phases.snapshot = await phase("snapshot", dir, async (server) => {
      const t0 = performance.now();
      const snap = await api(server, "POST", "snapshots");
      snapshotId = snap.snapshotId ?? null;
      return { snapshotMs: Math.round(performance.now() - t0), snapshotId };
    });
    if (snapshotId) {
      row.phases.browse = await phase("browse", dir, async (server) => {
        const t0 = performance.now();
        const files = await api(server, "GET", `snapshots/${snapshotId}/files`);
        const browseMs = Math.round(performance.now() - t0);
        // The compaction phase added one note.
        if (files.notes.length < notes) throw new Error(`browsed ${files.notes.length} notes, expected ${notes}`);
        const t1 = performance.now();
        const res = await fetch(`${server.url}/vault/${VAULT}/snapshots/${snapshotId}/files/${notePath(1)}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        await res.text();
        return { browseMs, noteMs: Math.round(performance.now() - t1), unchanged: files.comparison.unchanged };
      });
      // Unmeasured: a client deletes half of the notes to restore and overwrites the rest.
      const paths = Array.from({ length: Math.min(Number(opts.restore), notes) }, (_, i) => notePath(i));
      const editor = await startServer({ persistDir: dir, vars: VARS });
      try {
        const c = connectClient(editor, VAULT, { token: TOKEN, doc: holding() });
        await until(c.provider, "synced", () => c.provider.synced, wait, "synced");
        c.doc.transact(() => paths.forEach((p, i) => (i % 2 ? overwriteNote(c.doc, p, "overwritten\n") : deleteNote(c.doc, p))));
        await coveringEcho(c, wait);
        c.close();
      } finally {
        await editor.stop();
      }
      row.phases.restore = await phase("restore", dir, async (server) => {
        const t0 = performance.now();
        const done = await api(server, "POST", `snapshots/${snapshotId}/restore`, JSON.stringify({ paths, device: "ceiling" }));
        const actions = {};
        for (const r of done.restored) actions[r.action] = (actions[r.action] ?? 0) + 1;
        return { restoreMs: Math.round(performance.now() - t0), actions };
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!opts["skip-migration"]) {
    const mdir = tempDir("yaos-ceiling-migration-");
    try {
      const stale = Math.min(600, notes);
      const writer = await startServer({ persistDir: mdir, config: `${ROOT}/tests/legacy-writer/wrangler.toml`, readyPath: "/" });
      const res = await fetch(`${writer.url}/seed/${VAULT}?layout=deployed&notes=${stale}&journalNotes=${notes - stale}&perEntry=20&noteBytes=${NOTE_BYTES}`, { method: "POST" });
      await res.arrayBuffer();
      await writer.stop();
      if (res.status !== 200) throw new Error(`legacy writer answered ${res.status}`);
      row.phases.migration = await phase("migration", mdir, async (server) => {
        const c = connectClient(server, VAULT, { token: TOKEN });
        const t0 = performance.now();
        await until(c.provider, "synced", () => c.provider.synced, wait, "synced");
        const syncedMs = Math.round(performance.now() - t0);
        c.close();
        const debug = await api(server, "GET", "debug/recent");
        return { syncedMs, mode: debug.storage.mode, migrationDurationMs: debug.storage.migrationDurationMs };
      });
    } catch (error) {
      row.phases.migration = { failed: String(error.message ?? error) };
    } finally {
      rmSync(mdir, { recursive: true, force: true });
    }
  }
  return row;
}

const result = { sizes: SIZES, batch: BATCH, noteBytes: NOTE_BYTES, limitBytes: LIMIT_BYTES, loadAvg1mAtStart: loadavg()[0], rows: [], ceiling: null };
for (const notes of SIZES) {
  log(`== ${notes} notes`);
  const row = await measure(notes);
  result.rows.push(row);
  const over = Object.entries(row.phases).filter(([, p]) => p.failed || p.wasmMemoryBytes > LIMIT_BYTES).map(([name]) => name);
  row.over = over;
  if (over.length && !result.ceiling) result.ceiling = { firstSizeOver: notes, phases: over };
}
result.loadAvg1mAtEnd = loadavg()[0];
result.totalMs = Math.round(performance.now() - started);
console.log(JSON.stringify(result));
