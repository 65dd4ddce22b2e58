// Small measurement helpers for tests/bench/bench.mjs: percentiles, a
// bounded wait, and a sampler of the workerd processes' memory.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

let clockTicks = null;
/** User + system CPU time of one process in ms, or null when it is gone. */
export function procCpuMs(pid) {
  let stat;
  try { stat = readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { return null; }
  // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/** The p-th percentile (0..100) of `values` by nearest rank, or null when empty. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  return percentile(values, 50);
}

/** Rounds to 0.01 ms (or returns null), so the JSON line stays readable. */
export function ms(value) {
  return value === null || value === undefined ? null : Math.round(value * 100) / 100;
}

export function summarize(values) {
  return { p50: ms(percentile(values, 50)), p95: ms(percentile(values, 95)), p99: ms(percentile(values, 99)) };
}

/** Rejects after `ms` with `what` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** VmHWM and VmRSS of one process in bytes, or null when it is gone. */
export function procMemory(pid) {
  let status;
  try { status = readFileSync(`/proc/${pid}/status`, "utf8"); } catch { return null; }
  const kb = (name) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { hwm: kb("VmHWM"), rss: kb("VmRSS") };
}

/**
 * Samples the memory of the current server's workerd processes every
 * `intervalMs` and on demand. The pid list is looked up (with pgrep, which
 * blocks briefly) only when the server changes or a pid disappears, so
 * periodic samples cost a few small /proc reads.
 */
/** CPU ms spent between two snapshots; a process new in `after` counts from zero. */
export function cpuDelta(before, after) {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}

export class RssSampler {
  constructor(intervalMs = 500) {
    this.intervalMs = intervalMs;
    this.server = null;
    this.pids = [];
    this.peakHwm = 0;
    this.peakRss = 0;
    this.samples = 0;
    this.byPhase = {};
    this.phase = "start";
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  watch(server) {
    this.server = server;
    this.pids = [];
    this.sample();
  }

  setPhase(phase) {
    this.sample();
    this.phase = phase;
  }

  sample() {
    const server = this.server;
    if (!server || server.exited) return;
    if (this.pids.length === 0) this.pids = server.workerdPids();
    this.maxProcesses = Math.max(this.maxProcesses ?? 0, this.pids.length);
    let stale = false;
    for (const pid of this.pids) {
      const mem = procMemory(pid);
      if (!mem) { stale = true; continue; }
      this.samples++;
      this.peakHwm = Math.max(this.peakHwm, mem.hwm);
      this.peakRss = Math.max(this.peakRss, mem.rss);
      // VmHWM only grows over a process's life, so phases get sampled VmRSS.
      this.byPhase[this.phase] = Math.max(this.byPhase[this.phase] ?? 0, mem.rss);
    }
    if (stale) this.pids = [];
  }

  /** CPU time (ms) of each current workerd process, by pid. */
  cpuSnapshot() {
    const out = new Map();
    if (!this.server || this.server.exited) return out;
    for (const pid of this.server.workerdPids()) {
      const cpu = procCpuMs(pid);
      if (cpu !== null) out.set(pid, cpu);
    }
    return out;
  }

  stop() {
    clearInterval(this.timer);
  }
}
