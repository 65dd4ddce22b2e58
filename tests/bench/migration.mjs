// Times the one-time key-value-to-SQL migration of a large vault: the
// legacy-writer fixture lays out N notes in an old format, then the Rust
// server starts on the same persist directory and a fresh client connects.
// Prints one JSON line.
//   node tests/bench/migration.mjs [--notes 10000] [--note-bytes 2048] [--layout deployed|sql-branch]
// `deployed` (the default) is what the released servers left for a large
// vault: a stale checkpoint of the first 600 notes (512 KiB chunks, each value
// holding the whole update), then the rest in journal entries of 20 notes,
// every later compaction refused. `sql-branch` is one 64 KiB-chunk checkpoint
// of every note plus a short journal.
import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { startServer, tempDir, ROOT } from "../e2e/harness.mjs";
import { connectClient } from "../e2e/clients.mjs";

const { values } = parseArgs({ options: {
  notes: { type: "string", default: "10000" }, "note-bytes": { type: "string", default: "2048" },
  layout: { type: "string", default: "deployed" },
} });
const notes = Number(values.notes), noteBytes = Number(values["note-bytes"]), layout = values.layout;
const STALE_NOTES = Math.min(600, notes);
const query = layout === "deployed"
  ? `layout=deployed&notes=${STALE_NOTES}&journalNotes=${notes - STALE_NOTES}&perEntry=20&noteBytes=${noteBytes}`
  : `layout=checkpoint-journal&notes=${notes}&noteBytes=${noteBytes}`;
const TOKEN = "bench-migration-token-0123456789abcdef";
const dir = tempDir("yaos-bench-migration-");
const vault = "bench-migration-vault";
let server = null;

try {
  const writer = await startServer({ persistDir: dir, config: `${ROOT}/tests/legacy-writer/wrangler.toml`, readyPath: "/" });
  const seedStart = performance.now();
  const res = await fetch(`${writer.url}/seed/${vault}?${query}`, { method: "POST" });
  const legacyBytes = (await res.arrayBuffer()).byteLength;
  const journalEntries = Number(res.headers.get("x-journal-entries") ?? 0);
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
    layout, notes, noteBytes, legacyUpdateBytes: legacyBytes, legacyJournalEntries: journalEntries, legacySeedMs: Math.round(seedMs),
    mode: debug.storage.mode, migrationStatus: debug.storage.migrationStatus,
    migrationDurationMs: debug.storage.migrationDurationMs, coldLoadDurationMs: debug.storage.coldLoadDurationMs,
    firstClientSyncedMs: Math.round(firstSyncMs), verified: migration?.verified ?? null,
    migrationMeta: debug.storage.migrationMeta, wasmMemoryBytes: debug.wasmMemoryBytes,
  }));
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
