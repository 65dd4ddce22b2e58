// Reads the Durable Object SQLite files that `wrangler dev --persist-to`
// keeps, so tests can prove what is (and is not) in storage. Open only while
// the server is stopped, or read-only. Key-value values are V8-serialized
// structured clones; node's v8.deserialize reads them.
import { DatabaseSync } from "node:sqlite";
import { readdirSync, existsSync } from "node:fs";
import { deserialize } from "node:v8";
import { join } from "node:path";

export function objectFiles(persistDir, className = "VaultSyncServer") {
  const dir = join(persistDir, "v3", "do", `yaos-${className}`);
  if (!existsSync(dir)) return [];
  // One file per object, named by its id (64 hex); metadata.sqlite is wrangler's own.
  return readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).map((f) => join(dir, f));
}

function tables(db) {
  return new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name));
}

/** What one object's database holds. */
export function inspect(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const t = tables(db);
    const kv = new Map();
    if (t.has("_cf_KV")) {
      for (const row of db.prepare("SELECT key, value FROM _cf_KV").all()) {
        let value;
        try { value = deserialize(Buffer.from(row.value)); } catch { value = undefined; }
        kv.set(row.key, value);
      }
    }
    const count = (table) => (t.has(table) ? Number(db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get().n) : 0);
    const meta = t.has("_migration_meta")
      ? Object.fromEntries(db.prepare("SELECT key, value FROM _migration_meta").all().map((r) => [r.key, r.value]))
      : {};
    return { file, kv, snapshotChunks: count("snapshot_chunks"), journalRows: count("journal"), migrationMeta: meta };
  } finally {
    db.close();
  }
}

export const isLegacyKey = (k) => k === "document" || k.startsWith("document:checkpoint:") || k.startsWith("document:journal:");

/** The object whose key-value storage names it `vault` (`__ps_name`), or the one holding `marker` key. */
export function findObject(persistDir, predicate) {
  return objectFiles(persistDir).map(inspect).find(predicate);
}
