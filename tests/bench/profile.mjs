// A CPU profile of the server under the throughput load: seeds N notes,
// then C clients each append to their own note (K edits in flight) for S
// seconds while the V8 profiler of wrangler's inspector samples the worker.
// Prints the functions with the most self time (wasm functions by name).
//   scripts/bench.sh --profile [N=10000] [S=8] [C=10] [K=4]
// The profiler slows the worker several times over: read the shares, not
// the edit rate it prints.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, until } from "../e2e/clients.mjs";
import { seedInBatches } from "./content.mjs";

const [N, S, C, K] = [10000, 8, 10, 4].map((d, i) => Number(process.argv[2 + i] ?? d));
// PROFILE_LINES=1 names JavaScript functions by line too (anonymous glue);
// PROFILE_INTERVAL_US sets the sampling interval (default 200 µs: finer, but
// the profiler then slows the worker several times over); DEFLATE=0 makes
// the clients not offer permessage-deflate.
const LINES = process.env.PROFILE_LINES === "1";
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 200);
const DEFLATE = process.env.DEFLATE === "0" ? { perMessageDeflate: false } : {};
const TOKEN = "bench-profile-token-0123456789abcdef";
const V = "profile";
process.setMaxListeners(100); // each provider adds a process "exit" listener
const server = await startServer({ persistDir: tempDir(), vars: { SYNC_TOKEN: TOKEN } });
try {
  const a = connectClient(server, V, { token: TOKEN });
  await until(a.provider, "synced", () => a.provider.synced, 15000);
  await seedInBatches(a, N);
  const seed = Y.encodeStateAsUpdate(a.doc);
  const ids = [...a.doc.getMap("idToText").keys()];
  a.close();

  const targets = await (await fetch(`http://127.0.0.1:${server.inspectorPort}/json`)).json();
  const target = targets.find((t) => /core:user/.test(t.id ?? "") || /user/.test(t.title ?? "")) ?? targets[0];
  const inspector = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, j) => { inspector.once("open", r); inspector.once("error", j); });
  let nextId = 1;
  const pending = new Map();
  inspector.on("message", (m) => { const msg = JSON.parse(m); if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } });
  const call = (method, params = {}) => new Promise((r) => { const id = nextId++; pending.set(id, r); inspector.send(JSON.stringify({ id, method, params })); });

  const clients = [];
  for (let k = 0; k < C; k++) { const d = new Y.Doc(); Y.applyUpdate(d, seed); clients.push(connectClient(server, V, { token: TOKEN, doc: d, ...DEFLATE })); }
  await Promise.all(clients.map((c) => until(c.provider, "synced", () => c.provider.synced, 60000)));
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await call("Profiler.start");
  let running = true;
  let acked = 0;
  clients.forEach((c, k) => {
    const text = c.doc.getMap("idToText").get(ids[k + 1]);
    let inflight = 0;
    const pump = () => { while (running && inflight < K) { text.insert(text.length, "y"); inflight++; } };
    c.provider.on("custom-message", (raw) => { try { if (JSON.parse(raw).type === "yaos/sv-echo") { acked += inflight; inflight = 0; pump(); } } catch {} });
    pump();
  });
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, S * 1000));
  running = false;
  const { result } = await call("Profiler.stop");
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of clients) c.close();
  inspector.close();
  const byId = new Map(result.profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = result.profile.timeDeltas;
  result.profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const where = n.callFrame.url ? n.callFrame.url.split("/").pop() + (LINES ? `:${n.callFrame.lineNumber + 1}` : "") : "";
    const name = `${n.callFrame.functionName || "(anonymous)"} ${where}`.trim();
    self.set(name, (self.get(name) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((x, y) => x + y, 0);
  const idle = (self.get("(idle)") ?? 0);
  console.log(`~${Math.round(acked / elapsed)} edits/s acked; profile ${(total / 1e6).toFixed(1)} s, busy ${((total - idle) / 1e6).toFixed(2)} s`);
  for (const [name, us] of [...self.entries()].sort((x, y) => y[1] - x[1]).slice(0, 40)) {
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((us / (total - idle)) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
} finally {
  await server.stop();
}
