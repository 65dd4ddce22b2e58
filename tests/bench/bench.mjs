// Benchmark of the real server under `wrangler dev` (local workerd), with the
// same clients as the end-to-end suite: seeding a plugin-shaped vault, cold
// loads from SQLite, edit-to-peer latency, sustained throughput with many
// clients, and workerd memory. Prints one JSON line on stdout; progress goes
// to stderr. Run through scripts/bench.sh (which builds the worker first).
//
//   node tests/bench/bench.mjs [--notes N] [--note-bytes B] [--seconds S]
//     [--clients C] [--inflight K] [--latency-edits E] [--restarts R] [--timeout S]
//     [--server-config PATH] [--seed-batch N] [--window MS|default] [--var NAME=VALUE ...]
//
// This server runs with YAOS_COMMIT_WINDOW_MS=0 (every edit written in its own
// turn, as the e2e harness sets it) unless --window names a window in ms, or
// `default` for the production default (2.5 s: acknowledgements then wait up
// to the window by design, so throughput with K edits in flight falls).
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { loadavg } from "node:os";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, addNote, echoedStateVector, dominates } from "../e2e/clients.mjs";
import { RssSampler, cpuDelta, median, ms, summarize, withTimeout } from "./metrics.mjs";
import { noteBody, notePath } from "./content.mjs";

const USAGE = `usage: scripts/bench.sh [options]
  --notes N          notes in the seeded vault (default 2000)
  --note-bytes B     bytes of text per note (default 2048)
  --seconds S        duration of the throughput phase (default 10)
  --clients C        clients in the throughput phase (default 10)
  --inflight K       unacknowledged edits each throughput client keeps in flight (default 4)
  --latency-edits E  sequential edits timed client-to-peer (default 200)
  --restarts R       cold loads measured (default 3)
  --timeout S        abort the whole run after S seconds (default 1800)
  --no-deflate       clients do not offer permessage-deflate (ws and browsers do by default)
  --seed-batch N     seed in transactions of N notes, each acknowledged before the next
                     (default 0: the whole vault in one, as the plugin's first push)
  --window MS|default  group-commit window YAOS_COMMIT_WINDOW_MS for this server (default 0,
                     as the e2e harness sets it; \`default\` binds nothing: the server's 2.5 s)
  --var NAME=VALUE   a wrangler var for the server (repeatable), e.g. YAOS_DEFLATE_WINDOW_BITS=12
  --server-config P  run another server from wrangler config P (e.g. the TypeScript original's,
                     see engineering/benchmarks.md); fields its debug JSON lacks are null`;

const { values: opts } = parseArgs({
  options: {
    notes: { type: "string", default: "2000" },
    "note-bytes": { type: "string", default: "2048" },
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "10" },
    inflight: { type: "string", default: "4" },
    "latency-edits": { type: "string", default: "200" },
    restarts: { type: "string", default: "3" },
    timeout: { type: "string", default: "1800" },
    "no-deflate": { type: "boolean", default: false },
    "server-config": { type: "string" },
    "seed-batch": { type: "string", default: "0" },
    var: { type: "string", multiple: true, default: [] },
    window: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (opts.help) { console.log(USAGE); process.exit(0); }
function intOpt(name, min) {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < min) { console.error(`--${name} must be an integer >= ${min}\n${USAGE}`); process.exit(2); }
  return n;
}
const NOTES = intOpt("notes", 1);
const NOTE_BYTES = intOpt("note-bytes", 16);
const SECONDS = intOpt("seconds", 1);
const CLIENTS = intOpt("clients", 1);
const INFLIGHT = intOpt("inflight", 1);
const LATENCY_EDITS = intOpt("latency-edits", 1);
const RESTARTS = intOpt("restarts", 1);
const TIMEOUT_S = intOpt("timeout", 10);
const SEED_BATCH = intOpt("seed-batch", 0);
const VARS = Object.fromEntries(opts.var.map((v) => {
  const at = v.indexOf("=");
  if (at < 1) { console.error(`--var takes NAME=VALUE, got ${v}\n${USAGE}`); process.exit(2); }
  return [v.slice(0, at), v.slice(at + 1)];
}));
// --window as tests/bench/typing.mjs takes it: null binds nothing (the
// server's default window); absent, the harness sets 0 for this server.
if (opts.window !== undefined) {
  if (opts.window !== "default" && !/^\d+$/.test(opts.window)) {
    console.error(`--window takes a whole number of ms or "default", got ${opts.window}\n${USAGE}`); process.exit(2);
  }
  if ("YAOS_COMMIT_WINDOW_MS" in VARS) { console.error(`give the window by --window or --var, not both\n${USAGE}`); process.exit(2); }
  VARS.YAOS_COMMIT_WINDOW_MS = opts.window === "default" ? null : opts.window;
}
/** Another server's wrangler config (absolute: wrangler runs in its directory), or null for this one. */
const SERVER_CONFIG = opts["server-config"] === undefined ? null : resolve(opts["server-config"]);
if (CLIENTS + 1 > NOTES) { console.error("--notes must exceed --clients (each client edits its own note)"); process.exit(2); }

const TOKEN = "bench-token-0123456789abcdef0123456789";
const VAULT = "bench-vault";
/** Waits that move the whole vault (seed, sync of a fresh client) grow with it. */
const BIG_WAIT_MS = 60_000 + NOTES * 15;
const SMALL_WAIT_MS = 15_000;

const started = performance.now();
const loadAtStart = Math.round(loadavg()[0] * 100) / 100;
const log = (...args) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s]`, ...args);
process.setMaxListeners(100); // each provider adds a process "exit" listener

// ---------------------------------------------------------------- cleanup
const persistDir = tempDir("yaos-bench-");
const liveClients = new Set();
let server = null;
const sampler = new RssSampler(500);
const serverOutputs = [];

let starting = null;
async function startBenchServer() {
  starting = startServer({ persistDir, vars: { ...VARS, SYNC_TOKEN: TOKEN }, config: SERVER_CONFIG });
  try { server = await starting; } finally { starting = null; }
  serverOutputs.push(server);
  sampler.watch(server);
  return server;
}

async function stopBenchServer() {
  if (!server) return;
  sampler.sample(); // VmHWM just before the process goes away
  const s = server;
  server = null;
  await s.stop();
}

let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    for (const c of liveClients) { try { c.close(); } catch {} }
    liveClients.clear();
    // A server still starting (a signal arrived meanwhile) is stopped once up.
    if (starting) { try { server = await starting; } catch {} }
    try { await stopBenchServer(); } catch {}
    sampler.stop();
    try { rmSync(persistDir, { recursive: true, force: true }); } catch {}
  })();
  return cleaning;
}

function serverLogTail(chars = 6000) {
  const all = serverOutputs.map((s, i) => `--- wrangler run ${i + 1} ---\n${s.output}`).join("\n");
  return all.length > chars ? all.slice(-chars) : all;
}

async function fail(error) {
  console.error(`bench failed: ${error?.stack ?? error}`);
  console.error(`wrangler output (tail):\n${serverLogTail()}`);
  await cleanup();
  process.exit(1);
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => { cleanup().finally(() => process.exit(130)); });
}
setTimeout(() => fail(new Error(`whole run exceeded --timeout ${TIMEOUT_S} s`)), TIMEOUT_S * 1000).unref();

// ---------------------------------------------------------------- clients
function open(doc = new Y.Doc()) {
  const c = connectClient(server, VAULT, { token: TOKEN, doc, perMessageDeflate: opts["no-deflate"] ? false : undefined });
  c.closes = [];
  c.provider.on("connection-close", (event) => { c.closes.push({ code: event?.code, reason: event?.reason }); });
  liveClients.add(c);
  const close = c.close;
  c.close = () => { liveClients.delete(c); close(); c.doc.destroy(); };
  return c;
}

/**
 * Resolves when `pred()` holds, re-checking on every event of `emitter`
 * named in `events`; rejects on timeout or when the client's socket closes.
 */
function waitFor(c, emitter, events, pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const closesBefore = c.closes.length;
    const check = () => {
      if (c.closes.length > closesBefore) {
        done(); reject(new Error(`socket closed while waiting for ${what}: ${JSON.stringify(c.closes.at(-1))}`));
      } else if (pred()) { done(); resolve(); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      for (const e of events) emitter.off(e, check);
      c.provider.off("connection-close", check);
    };
    for (const e of events) emitter.on(e, check);
    c.provider.on("connection-close", check);
    check();
  });
}

const waitSynced = (c, timeoutMs = BIG_WAIT_MS) =>
  waitFor(c, c.provider, ["synced"], () => c.provider.synced, timeoutMs, "synced");

/** Waits for a postApply echo whose state vector covers the client's own. */
function waitEchoCovering(c, timeoutMs, what = "covering echo") {
  const mine = Y.decodeStateVector(Y.encodeStateVector(c.doc));
  let seen = 0;
  return waitFor(c, c.provider, ["custom-message"], () => {
    for (; seen < c.echoes.length; seen++) if (dominates(echoedStateVector(c.echoes[seen]), mine)) return true;
    return false;
  }, timeoutMs, what);
}

async function debugInfo() {
  const res = await withTimeout(
    fetch(`${server.url}/vault/${encodeURIComponent(VAULT)}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } }),
    SMALL_WAIT_MS, "debug/recent");
  if (res.status !== 200) throw new Error(`debug/recent answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/**
 * The debug JSON once the server has saved the room with nothing left to save.
 * Another server may save after it echoes (the TypeScript one saves 2 s after
 * the last update, so a restart before then loses the seed).
 */
async function debugPersisted(timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await debugInfo();
    if (info.persistence?.successfulSaveCount > 0 && !info.persistence.pendingPersistence) return info;
    if (performance.now() > deadline) throw new Error(`server had not saved the room after ${timeoutMs} ms: ${JSON.stringify(info.persistence)}`);
    await new Promise((r) => setTimeout(r, 250)); // the save is not announced: poll
  }
}

/** A client whose doc already holds the vault, as the plugin's local copy would. */
function preloaded(seedUpdate) {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, seedUpdate);
  return open(doc);
}

// ---------------------------------------------------------------- phases
async function main() {
  const result = {
    server: SERVER_CONFIG ?? "this", vars: VARS, seedBatch: SEED_BATCH,
    notes: NOTES, noteBytes: NOTE_BYTES, deflateOffered: !opts["no-deflate"], vaultUpdateBytes: null,
    seedMs: null, coldLoadMs: null, returningLoadMs: null, serverColdLoadDurationMs: null,
    latencyMs: null, editsPerSecond: null, echoLatencyMs: null,
    peakRssBytes: null, wasmMemoryBytes: null, journalEntryCount: null, checkpointFallbackCount: null,
  };
  const phaseMs = {};
  const phase = async (name, fn) => {
    log(`${name}...`);
    sampler.setPhase(name);
    const t0 = performance.now();
    const out = await fn();
    phaseMs[name] = Math.round(performance.now() - t0);
    return out;
  };

  // Build the vault locally: one transaction per note, as the plugin adds them.
  // With --seed-batch, also the increments after every N notes, which
  // together are the same vault (same client, same clocks).
  const { seedUpdate, fileIds, increments } = await phase("build", async () => {
    const doc = new Y.Doc();
    const fileIds = [];
    const increments = [];
    let sent = Y.encodeStateVector(doc);
    for (let i = 0; i < NOTES; i++) {
      fileIds.push(addNote(doc, notePath(i), noteBody(i, NOTE_BYTES)));
      if (SEED_BATCH > 0 && ((i + 1) % SEED_BATCH === 0 || i === NOTES - 1)) {
        increments.push(Y.encodeStateAsUpdate(doc, sent));
        sent = Y.encodeStateVector(doc);
      }
    }
    const seedUpdate = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    return { seedUpdate, fileIds, increments };
  });
  result.vaultUpdateBytes = seedUpdate.length;
  log(`vault: ${NOTES} notes, update ${seedUpdate.length} bytes`);

  await phase("start", () => startBenchServer());

  // Seed: one connected client receives the vault in one transaction, so the
  // provider sends it as one update frame; done when the postApply echo covers it.
  let seedDebug;
  await phase("seed", async () => {
    const a = open();
    await waitSynced(a, SMALL_WAIT_MS);
    const t0 = performance.now();
    if (SEED_BATCH > 0) {
      for (const [k, increment] of increments.entries()) {
        Y.applyUpdate(a.doc, increment);
        await waitEchoCovering(a, BIG_WAIT_MS, `the postApply echo of seed batch ${k + 1}`);
      }
    } else {
      Y.applyUpdate(a.doc, seedUpdate);
    }
    result.seedClientApplyMs = SEED_BATCH > 0 ? null : ms(performance.now() - t0);
    await waitEchoCovering(a, BIG_WAIT_MS, "the seed's postApply echo");
    result.seedMs = ms(performance.now() - t0);
    seedDebug = SERVER_CONFIG === null ? await debugInfo() : await debugPersisted(BIG_WAIT_MS);
    a.close();
  });
  result.seedPersistence = {
    checkpointFallbackCount: seedDebug.persistence.checkpointFallbackCount,
    oversizedDeltaCount: seedDebug.storage?.oversizedDeltaCount ?? null,
    journalEntryCount: seedDebug.persistence.journalEntryCount,
  };
  result.wasmMemoryBytesAfterSeed = seedDebug.wasmMemoryBytes ?? null;
  // The TypeScript server's summary counts no nested-Y.Map (schema v3) meta entry
  // as a path, so another server's notes are counted by their idToText entries.
  const [held, what] = SERVER_CONFIG === null
    ? [seedDebug.documentSummary?.activePathCount, "active paths"]
    : [seedDebug.documentSummary?.idToTextCount, "idToText entries"];
  if (held !== NOTES) {
    throw new Error(`server holds ${held} ${what} after the seed, expected ${NOTES}`);
  }
  await stopBenchServer();

  // Cold loads: a fresh server on the same persist dir, a fresh empty client,
  // time to `synced` (the room loads from SQLite on this first access).
  const coldRuns = [];
  const coldOpenRuns = [];
  const coldStep2Runs = [];
  const serverColdRuns = [];
  await phase("coldLoad", async () => {
    for (let r = 0; r < RESTARTS; r++) {
      await startBenchServer();
      const t0 = performance.now();
      const c = open();
      // The room loads the document before it accepts the socket, so `open`
      // marks the end of the load; `synced` follows the full Step2.
      // The largest frame is the server's Step2 with the whole vault: its
      // arrival (before the client applies it) splits server from client work.
      let opened = null;
      let biggest = { bytes: -1, at: null };
      c.provider.on("status", ({ status }) => {
        if (status === "connected") opened ??= performance.now() - t0;
        if (status === "connecting" && c.provider.ws?.prependListener) {
          c.provider.ws.prependListener("message", (data) => {
            const bytes = data?.byteLength ?? data?.length ?? 0;
            if (bytes > biggest.bytes) biggest = { bytes, at: performance.now() - t0 };
          });
        }
      });
      await waitSynced(c);
      coldRuns.push(performance.now() - t0);
      coldOpenRuns.push(opened);
      coldStep2Runs.push(biggest.at);
      const info = await debugInfo();
      serverColdRuns.push(info.storage?.coldLoadDurationMs ?? null);
      result.wasmMemoryBytesAfterColdLoad = info.wasmMemoryBytes ?? null;
      const got = c.doc.getMap("idToText").size;
      c.close();
      if (got !== NOTES) throw new Error(`cold load ${r + 1} delivered ${got} notes, expected ${NOTES}`);
      log(`cold load ${r + 1}: synced after ${coldRuns.at(-1).toFixed(0)} ms (socket open ${opened?.toFixed(0)} ms, `
        + `${biggest.bytes} B state frame received ${biggest.at?.toFixed(0)} ms), server load ${serverColdRuns.at(-1)} ms`);
      if (r < RESTARTS - 1) await stopBenchServer();
    }
  });
  result.coldLoadMs = ms(median(coldRuns));
  result.coldLoadRunsMs = coldRuns.map(ms);
  // Medians of: the socket accepted (the room loads before accepting), the
  // full-state frame received, synced (after the client applied it).
  result.coldLoadBreakdownMs = {
    socketOpen: ms(median(coldOpenRuns)),
    fullStateReceived: ms(median(coldStep2Runs.filter((v) => v !== null))),
    synced: result.coldLoadMs,
  };
  result.serverColdLoadDurationMs = median(serverColdRuns.filter((v) => v !== null));
  result.serverColdLoadRunsMs = serverColdRuns;

  // Returning device: a restart, then a client that already holds the whole
  // vault (as the plugin's local copy does) connects; time to `synced`,
  // beside the server's own load from storage.
  const returningRuns = [];
  const returningServerRuns = [];
  await phase("returningLoad", async () => {
    for (let r = 0; r < RESTARTS; r++) {
      await stopBenchServer();
      await startBenchServer();
      const doc = new Y.Doc();
      Y.applyUpdate(doc, seedUpdate);
      const t0 = performance.now();
      const c = open(doc);
      await waitSynced(c);
      returningRuns.push(performance.now() - t0);
      const info = await debugInfo();
      returningServerRuns.push(info.storage?.coldLoadDurationMs ?? null);
      result.wasmMemoryBytesAfterReturningLoad = info.wasmMemoryBytes ?? null;
      c.close();
      log(`returning client ${r + 1}: synced after ${returningRuns.at(-1).toFixed(0)} ms, server load ${returningServerRuns.at(-1)} ms`);
    }
  });
  result.returningLoadMs = ms(median(returningRuns));
  result.returningLoadRunsMs = returningRuns.map(ms);
  result.returningServerLoadRunsMs = returningServerRuns;

  // Reference: what applying the vault costs the Node client alone.
  {
    const t0 = performance.now();
    const doc = new Y.Doc();
    Y.applyUpdate(doc, seedUpdate);
    result.clientApplyVaultMs = ms(performance.now() - t0);
    doc.destroy();
  }

  // Edit-to-peer latency: one small insert at a time in A, until B's doc has it.
  await phase("latency", async () => {
    const a = preloaded(seedUpdate);
    const b = preloaded(seedUpdate);
    await Promise.all([waitSynced(a), waitSynced(b)]);
    const text = a.doc.getMap("idToText").get(fileIds[0]);
    const author = a.doc.clientID;
    const samples = [];
    for (let i = 0; i < LATENCY_EDITS; i++) {
      const t0 = performance.now();
      text.insert(text.length, i % 10 === 9 ? "\n" : "x");
      const target = Y.getState(a.doc.store, author);
      await waitFor(b, b.doc, ["update"], () => Y.getState(b.doc.store, author) >= target, SMALL_WAIT_MS, `latency edit ${i}`);
      samples.push(performance.now() - t0);
    }
    result.latencyMs = summarize(samples);
    result.latencyMs.max = ms(Math.max(...samples));
    a.close();
    b.close();
  });

  // Sustained throughput: each client appends to its own note, keeping at most
  // INFLIGHT edits not yet covered by a postApply echo.
  await phase("throughput", async () => {
    const clients = [];
    for (let k = 0; k < CLIENTS; k++) clients.push(preloaded(seedUpdate));
    await Promise.all(clients.map((c) => waitSynced(c)));
    let running = true;
    let tEnd = Infinity; // set when the window opens
    const echoLatencies = [];
    let acked = 0;
    let ackedLate = 0;
    let sent = 0;
    const states = clients.map((c, k) => {
      const st = { c, text: c.doc.getMap("idToText").get(fileIds[k + 1]), pending: [], head: 0 };
      const pump = () => {
        while (running && st.pending.length - st.head < INFLIGHT) {
          st.text.insert(st.text.length, "y");
          st.pending.push({ clock: Y.getState(c.doc.store, c.doc.clientID), t: performance.now() });
          sent++;
        }
      };
      st.pump = pump;
      c.provider.on("custom-message", (raw) => {
        let msg;
        try { msg = JSON.parse(raw); } catch { return; }
        if (msg.type !== "yaos/sv-echo") return;
        const clock = echoedStateVector(msg).get(c.doc.clientID) ?? 0;
        const now = performance.now();
        while (st.head < st.pending.length && st.pending[st.head].clock <= clock) {
          const p = st.pending[st.head++];
          if (now <= tEnd) { acked++; echoLatencies.push(now - p.t); } else ackedLate++;
        }
        pump();
      });
      c.echoes.length = 0;
      return st;
    });
    const serverCpu0 = sampler.cpuSnapshot();
    const clientCpu0 = process.cpuUsage();
    const t0 = performance.now();
    tEnd = t0 + SECONDS * 1000;
    for (const st of states) st.pump();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    running = false;
    const elapsed = performance.now() - t0;
    const clientCpu = process.cpuUsage(clientCpu0);
    const serverCpu1 = sampler.cpuSnapshot();
    const serverCpu = cpuDelta(serverCpu0, serverCpu1);
    // wrangler dev runs two workerd processes (its proxy and the worker itself).
    const perProcess = [...serverCpu1].map(([pid, cpu]) => Math.round(((cpu - (serverCpu0.get(pid) ?? 0)) / elapsed) * 100) / 100);
    // Share of one core over the window: the machine's cores are shared by both.
    result.throughputCpuCores = {
      workerd: Math.round((serverCpu / elapsed) * 100) / 100,
      workerdByProcess: perProcess.sort((a, b) => b - a),
      benchClients: Math.round(((clientCpu.user + clientCpu.system) / 1000 / elapsed) * 100) / 100,
    };
    // Drain: every edit sent must still be acknowledged, and every client
    // must end up with every other client's edits.
    await Promise.all(states.map((st) => waitFor(st.c, st.c.provider, ["custom-message"],
      () => st.head >= st.pending.length, BIG_WAIT_MS, "the last echoes")));
    const target = new Map(clients.map((c) => [c.doc.clientID, Y.getState(c.doc.store, c.doc.clientID)]));
    await Promise.all(clients.map((c) => waitFor(c, c.doc, ["update"],
      () => dominates(Y.decodeStateVector(Y.encodeStateVector(c.doc)), target), BIG_WAIT_MS, "convergence")));
    result.editsPerSecond = Math.round((acked / (elapsed / 1000)) * 10) / 10;
    result.echoLatencyMs = summarize(echoLatencies);
    result.echoLatencyMs.max = ms(echoLatencies.reduce((m, v) => Math.max(m, v), 0));
    result.throughputEdits = { sent, ackedInWindow: acked, ackedAfterWindow: ackedLate, windowMs: Math.round(elapsed), clients: CLIENTS, inflight: INFLIGHT };
    for (const c of clients) c.close();
  });

  const finalDebug = await debugInfo();
  sampler.sample();
  result.wasmMemoryBytes = finalDebug.wasmMemoryBytes ?? null;
  result.journalEntryCount = finalDebug.persistence.journalEntryCount;
  result.checkpointFallbackCount = finalDebug.persistence.checkpointFallbackCount;
  result.persistence = {
    status: finalDebug.persistence.status,
    successfulSaveCount: finalDebug.persistence.successfulSaveCount,
    failedSaveCount: finalDebug.persistence.failedSaveCount,
    journalBytes: finalDebug.persistence.journalBytes,
    lastCompactionAt: finalDebug.persistence.lastCompactionAt,
    lastCompactionReason: finalDebug.persistence.lastCompactionReason,
  };
  // The window the server ran with (null: a server whose debug JSON lacks it).
  result.commitWindowMs = finalDebug.budget?.commitWindowMs ?? null;
  result.svEcho = { postApplySent: finalDebug.svEcho.postApplySent, failed: finalDebug.svEcho.failed };
  await stopBenchServer();
  result.peakRssBytes = Math.max(sampler.peakHwm, sampler.peakRss);
  result.peakRssBytesByPhase = sampler.byPhase;
  result.workerdProcesses = sampler.maxProcesses ?? 0;
  result.phaseMs = phaseMs;
  // Other work on the machine skews every figure; this shows if there was some.
  result.loadAvg1mAtStart = loadAtStart;
  result.totalMs = Math.round(performance.now() - started);

  // Expected: every bench socket uses ?token= rather than a ticket (the
  // TypeScript server's warning says "legacy ?token=").
  const issues = serverOutputs.flatMap((s) => s.output.replace(/\x1b\[[0-9;]*m/g, "").split("\n"))
    .filter((l) => /error|warn|exceed|dropped|limit|panic/i.test(l) && !/long-lived token|legacy \?token= WebSocket auth/.test(l));
  if (issues.length) log(`wrangler printed ${issues.length} error/warning lines, first ones:\n${[...new Set(issues)].slice(0, 20).join("\n")}`);
  result.serverLogIssueLines = issues.length;
  // wrangler dev watches build/: a rebuild during the run restarts the worker
  // (and resets the room), which invalidates the figures.
  result.serverReloads = serverOutputs.reduce((n, s) => n + (s.output.match(/Reloading local server/g)?.length ?? 0), 0);
  if (result.serverReloads) log(`WARNING: wrangler reloaded the worker ${result.serverReloads} time(s) during the run (build/ changed): results are not valid`);
  return result;
}

try {
  const result = await main();
  await cleanup();
  console.log(JSON.stringify(result));
  process.exit(0);
} catch (error) {
  await fail(error);
}
