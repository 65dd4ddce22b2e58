// Times the one-time key-value-to-SQL migration of a large vault: the
// legacy-writer fixture lays out N notes in the old format (64 KiB checkpoint
// chunks plus a journal), then the Rust server starts on the same persist
// directory and a fresh client connects. Prints one JSON line.
//   node tests/bench/migration.mjs [--notes 10000] [--note-bytes 2048]
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { startServer, tempDir, ROOT } from "../e2e/harness.mjs";
import { connectClient } from "../e2e/clients.mjs";

const { values } = parseArgs({ options: { notes: { type: "string", default: "10000" }, "note-bytes": { type: "string", default: "2048" } } });
const notes = Number(values.notes), noteBytes = Number(values["note-bytes"]);
const TOKEN = "bench-migration-token-0123456789abcdef";
const dir = tempDir("yaos-bench-migration-");
const vault = "bench-migration-vault";
let server = null;

try {
  const writer = await startServer({ persistDir: dir, config: `${ROOT}/tests/legacy-writer/wrangler.toml`, readyPath: "/" });
  const seedStart = performance.now();
  const res = await fetch(`${writer.url}/seed/${vault}?layout=checkpoint-journal&notes=${notes}&noteBytes=${noteBytes}`, { method: "POST" });
  const legacyBytes = (await res.arrayBuffer()).byteLength;
  const seedMs = performance.now() - seedStart;
  await writer.stop();

  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
  const t0 = performance.now();
  const client = connectClient(server, vault, { token: TOKEN });
  await client.synced();
  const firstSyncMs = performance.now() - t0;
  client.close();
  const debug = await (await fetch(`${server.url}/vault/${vault}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  const migration = debug.recent.find((e) => e.event === "kv-to-sql-migration") ?? null;
  console.log(JSON.stringify({
    notes, noteBytes, legacyUpdateBytes: legacyBytes, legacySeedMs: Math.round(seedMs),
    mode: debug.storage.mode, migrationStatus: debug.storage.migrationStatus,
    migrationDurationMs: debug.storage.migrationDurationMs, coldLoadDurationMs: debug.storage.coldLoadDurationMs,
    firstClientSyncedMs: Math.round(firstSyncMs), verified: migration?.verified ?? null,
    migrationMeta: debug.storage.migrationMeta, wasmMemoryBytes: debug.wasmMemoryBytes,
  }));
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
