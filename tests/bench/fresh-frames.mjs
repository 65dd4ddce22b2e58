// Where a fresh client's first sync spends its time: seeds N notes (in
// transactions of 2,500), then three times restarts the server and syncs an
// empty client, printing when each binary message arrived (size@ms after the
// connect began), the server's own account of sending them (the
// `server.sync.stored_state` trace), and what applying each one costs the
// client alone. Run through scripts/bench.sh --frames [N]; PIECE=bytes sets
// YAOS_SYNC_PIECE_BYTES, ONE_STEP=bytes YAOS_ONE_STEP_SYNC_BYTES (0: the
// vault goes in pieces whatever its size), BATCH=notes the seeding
// transactions (2,500; a room over about 20,000 notes takes 500).
import { performance } from "node:perf_hooks";
import { readFileSync } from "node:fs";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, until } from "../e2e/clients.mjs";
import { seedInBatches } from "./content.mjs";
const N = Number(process.argv[2] ?? 10000);
const TOKEN = "bench-ceiling-token-0123456789abcdef";
const V = "diag";
const dir = tempDir();
let server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
const a = connectClient(server, V, { token: TOKEN });
await until(a.provider, "synced", () => a.provider.synced, 15000);
await seedInBatches(a, N, { batch: Number(process.env.BATCH ?? 2500) });
a.close();
for (let run = 0; run < 3; run++) {
  await server.stop();
  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN, ...(process.env.PIECE ? { YAOS_SYNC_PIECE_BYTES: process.env.PIECE } : {}), ...(process.env.ONE_STEP ? { YAOS_ONE_STEP_SYNC_BYTES: process.env.ONE_STEP } : {}) } });
  const sizes = [];
  const times = [];
  const pids = server.workerdPids();
  const cpu0 = pids.map(cpuMs);
  const t0 = performance.now();
  const c = connectClient(server, V, { token: TOKEN, perMessageDeflate: process.env.DEFLATE === "0" ? false : undefined, frameSizes: { push: (n) => { sizes.push(n); times.push(Math.round(performance.now() - t0)); } } });
  const raw = [];
  c.provider.on("status", ({ status }) => { if (status === "connecting" || status === "connected") c.provider.ws?.on?.("message", (d, bin) => { if (bin && raw.indexOf(d) < 0) raw.push(Buffer.from(d)); }); });
  await until(c.provider, "synced", () => c.provider.synced, 120000);
  const synced = Math.round(performance.now() - t0);
  // CPU each workerd process (the user worker's, the dev proxy's) spent
  // from the connect to synced, with its RSS to tell them apart.
  const cpu = pids.map((pid, i) => `${cpuMs(pid) - cpu0[i]}ms/${rssMb(pid)}MB`).join(" ");
  const dbg = await (await fetch(`${server.url}/vault/${V}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  const sent = dbg.recent.find((e) => e.event === "server.sync.stored_state");
  console.log(JSON.stringify({ synced, load: dbg.storage.coldLoadDurationMs, stored: sent && { frames: sent.frames, durationMs: sent.durationMs }, workerdCpu: cpu, frames: sizes.map((s, i) => `${(s / 1e6).toFixed(2)}MB@${times[i]}`).join(" ") }));
  c.close();
  // The client's own cost per frame, replayed into a fresh document.
  const dec = await import("lib0/decoding");
  const doc = new Y.Doc();
  const costs = [];
  for (const f of raw) {
    let u;
    try {
      const d = dec.createDecoder(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
      if (dec.readVarUint(d) !== 0) continue;
      if (dec.readVarUint(d) === 0) continue;
      u = dec.readVarUint8Array(d);
    } catch (e) { console.log("undecodable frame of", f.length); continue; }
    const t = performance.now();
    Y.applyUpdate(doc, u);
    costs.push(Math.round(performance.now() - t));
  }
  console.log("client apply per frame ms", costs.join(" "), "frames captured", raw.length);
}
await server.stop();

/** utime + stime of a process, in ms (Linux clock ticks are 10 ms). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
function rssMb(pid) {
  return Math.round(Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * 4096 / 1e6);
}
