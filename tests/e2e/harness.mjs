// Starts and stops the real server (`wrangler dev` on local workerd) for the
// end-to-end tests. The worker is built once by scripts/test.sh; each server
// here runs from a derived config without the [build] step, so restarts take
// seconds, and with its own loopback port and persist directory.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { localConfig } from "../../scripts/local-config.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// Every server tree this process started; killed if the process exits without
// stopping them (a crashed test must not leave workerd running).
const live = new Set();
process.on("exit", () => { for (const pid of live) { try { process.kill(-pid, "SIGKILL"); } catch {} } });

/**
 * A free TCP port on 127.0.0.1, below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, 32768 and up by default): a port
 * the kernel handed out for `listen(0)` and took back may be handed next to
 * another process binding port 0 (a concurrent workerd), which then holds it
 * when wrangler binds it (seen in CI, stop 25). Random picks, checked free.
 */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise((resolve) => {
      const srv = createServer();
      srv.unref();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port found below the ephemeral range");
}

/** A small seeded PRNG (mulberry32), so a failing kill schedule can be replayed from its seed. */
export function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function tempDir(prefix = "yaos-e2e-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts `wrangler dev`. `vars` become `--var` bindings (SYNC_TOKEN etc.;
 * a null value binds nothing).
 * `bucket: false` runs the text-only shape (no R2 binding); by default a
 * local R2 bucket is bound, persisted under `persistDir`.
 * `config` runs another worker (a test fixture) instead of the server.
 * Resolves once `readyPath` answers (any status from a fixture; 200 from the server).
 */
export async function startServer(options = {}) {
  // The ports are free when chosen but taken later: another server started
  // at the same time can bind one first (CI, stop 25). Such a start is
  // retried on new ports; any other failure is not.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function startServerOnce({ persistDir = tempDir(), vars = {}, config = null, bucket = true, readyPath = "/api/capabilities", extraArgs = [] } = {}) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const fixture = config !== null;
  config = config ?? localConfig({ bucket });
  const args = [
    "dev", "--config", config, "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort), "--persist-to", persistDir,
    "--local", "--show-interactive-dev-session=false", "--log-level", "info",
  ];
  // The server's tests write and await one acknowledgement at a time, so by
  // default they run without group commit (each edit written in its own
  // turn, as before it); a test passes YAOS_COMMIT_WINDOW_MS itself to set a
  // window, or null to run the production default.
  const all = fixture ? vars : { YAOS_COMMIT_WINDOW_MS: "0", ...vars };
  for (const [k, v] of Object.entries(all)) if (v !== null) args.push("--var", `${k}:${v}`);
  args.push(...extraArgs);
  const child = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), args, {
    cwd: dirname(config),
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", CI: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const server = {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    inspectorPort,
    persistDir,
    child,
    output: "",
    exited: false,
  };
  child.stdout.on("data", (d) => { server.output += d; });
  child.stderr.on("data", (d) => { server.output += d; });
  /** Resolves once the server's output matches `pattern` (it reaches us asynchronously); rejects after `ms`. */
  server.waitForOutput = (pattern, ms = 15000) => new Promise((resolve, reject) => {
    if (pattern.test(server.output)) return resolve();
    const check = () => { if (pattern.test(server.output)) { done(); resolve(); } };
    const done = () => { clearTimeout(timer); child.stdout.off("data", check); child.stderr.off("data", check); };
    const timer = setTimeout(() => { done(); reject(new Error(`server output never matched ${pattern}`)); }, ms);
    child.stdout.on("data", check);
    child.stderr.on("data", check);
  });
  live.add(child.pid);
  const exited = new Promise((resolve) => child.on("exit", () => { server.exited = true; live.delete(child.pid); resolve(); }));
  server.stop = async () => {
    if (server.exited) return;
    try { process.kill(-child.pid, "SIGTERM"); } catch {}
    const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 5000);
    await exited;
    clearTimeout(timer);
  };
  /**
   * SIGKILLs the workerd process (no graceful shutdown), then the rest of the
   * tree. Pass PIDs looked up beforehand to make the kill itself immediate.
   */
  /** Lines of the server's output that mean a panic or a wasm instance reset. */
  server.crashLines = () => server.output.split("\n").filter((l) => /panicked at|RuntimeError|Critical|Rust panic/.test(l));
  server.killWorkerd = async (pids = null) => {
    for (const pid of pids ?? server.workerdPids()) { try { process.kill(pid, "SIGKILL"); } catch {} }
    try { process.kill(-child.pid, "SIGKILL"); } catch {}
    await exited;
  };
  server.workerdPids = () => descendants(child.pid).filter((pid) => (procName(pid) || "").includes("workerd"));

  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (server.exited) {
      // wrangler is gone, but the workerd it started may not be.
      try { process.kill(-child.pid, "SIGKILL"); } catch {}
      throw new Error(`wrangler exited early:\n${server.output}`);
    }
    try {
      const res = await fetch(`${server.url}${readyPath}`);
      await res.arrayBuffer();
      if (res.ok || fixture) return server;
    } catch {}
    await new Promise((r) => setTimeout(r, 250)); // polling a port that is not yet bound: no event to await
  }
  await server.stop();
  throw new Error(`server did not become ready:\n${server.output}`);
}

function descendants(pid) {
  let out = [];
  let children = [];
  try {
    children = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
  } catch {}
  for (const c of children) out = out.concat([c], descendants(c));
  return out;
}

function procName(pid) {
  try { return readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { return null; }
}
