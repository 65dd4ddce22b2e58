// Writes legacy-format vault state (spec 10.3) through the Durable Object
// key-value API, the way the older TypeScript server laid it out: a
// checkpoint of 64 KiB chunks with manifest, state vector and pointer, plus a
// journal of chunked entries; or only the oldest single `document` key.
//
// POST /seed/<vault>?layout=checkpoint-journal|document-only|bad-hash&notes=N[&noteBytes=B]
// answers the full Yjs update of the document it wrote (for comparison).
//
// POST /seed/<vault>?layout=deployed&notes=N&journalNotes=J&perEntry=P[&noteBytes=B][&compact=0][&maxCheckpointBytes=M]
// writes what the released key-value servers left (see DeployedStore below):
// N notes saved, then J more notes saved P per journal entry, with the
// compaction the released coordinator attempted after each save; the
// answer's headers say how the compactions went. The room also gets the
// old server's `roomMeta`, two `trace:*` entries and `__ps_name`.
//
// POST /seed/<vault>?layout=stuck&notes=N: a vault stuck read-only (see
// `stuck`); answers the union of both copies.
//
// POST /config?tokenHash=H&provider=P&repoUrl=U&branch=B writes the claim
// and update metadata into `ServerConfig` as the old server stored them.
import * as Y from "yjs";

const CHUNK = 65536;

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function addNote(doc, i, text) {
  const id = `file-${i}`;
  const path = `notes/note-${i}.md`;
  doc.transact(() => {
    doc.getMap("meta").set(id, { path, mtime: 1_700_000_000_000 + i });
    doc.getMap("pathToId").set(path, id);
    const ytext = new Y.Text();
    doc.getMap("idToText").set(id, ytext);
    ytext.insert(0, text);
    doc.getMap("sys").set("schemaVersion", 2);
  });
}

/** Byte values in every form a structured clone could hold, in rotation. */
function asStoredBytes(bytes, i) {
  switch (i % 4) {
    // A copy: structured-cloning a subarray view would store its whole
    // underlying buffer (the entire update) under every chunk key.
    case 0: return bytes.slice();                           // Uint8Array
    case 1: return bytes.slice().buffer;                    // ArrayBuffer
    case 2: {                                               // a view at an offset into a larger buffer
      const padded = new Uint8Array(bytes.length + 7);
      padded.set(bytes, 3);
      return new Uint8Array(padded.buffer, 3, bytes.length);
    }
    default: return new DataView(bytes.slice().buffer);     // DataView
  }
}

function chunks(bytes) {
  const out = [];
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.subarray(i, i + CHUNK));
  return out;
}

async function putMany(storage, entries) {
  const keys = Object.keys(entries);
  for (let i = 0; i < keys.length; i += 16) {
    const batch = {};
    for (const k of keys.slice(i, i + 16)) batch[k] = entries[k];
    await storage.put(batch);
  }
}

async function writeCheckpoint(storage, update, stateVector, version, { corruptHash = false } = {}) {
  const parts = chunks(update);
  const entries = {};
  parts.forEach((c, i) => { entries[`document:checkpoint:chunk:${version}:${i}`] = asStoredBytes(c, i); });
  await putMany(storage, entries);
  let sha256 = await sha256Hex(update);
  if (corruptHash) sha256 = sha256.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  await storage.put({
    [`document:checkpoint:manifest:${version}`]: {
      format: "yaos-doc-checkpoint-v2", version, chunkSizeBytes: CHUNK, chunkCount: parts.length,
      byteLength: update.length, sha256, stateVectorByteLength: stateVector.length,
      stateVectorSha256: await sha256Hex(stateVector), updatedAt: new Date().toISOString(),
    },
    [`document:checkpoint:state-vector:${version}`]: stateVector,
    "document:checkpoint:current": { version },
  });
}

async function writeJournal(storage, updates, firstSeq) {
  let totalBytes = 0;
  for (const [n, update] of updates.entries()) {
    const seq = firstSeq + n;
    const parts = chunks(update);
    const entries = {};
    parts.forEach((c, i) => { entries[`document:journal:chunk:${seq}:${i}`] = asStoredBytes(c, i + n); });
    entries[`document:journal:manifest:${seq}`] = {
      format: "yaos-doc-journal-entry-v1", seq, chunkSizeBytes: CHUNK, chunkCount: parts.length,
      byteLength: update.length, sha256: await sha256Hex(update), updatedAt: new Date().toISOString(),
    };
    await putMany(storage, entries);
    totalBytes += update.length;
  }
  await storage.put("document:journal:meta", {
    format: "yaos-doc-journal-v1", nextSeq: firstSeq + updates.length, entryCount: updates.length,
    totalBytes, updatedAt: new Date().toISOString(),
  });
}

// ---- the released servers' layout -----------------------------------------
// Written from the format of kavinsood/yaos `main`, server/src/chunkedDocStore.ts
// (the last key-value release), not copied: 512 KiB chunks stored as
// `subarray` views of the one update buffer, puts of at most 128 keys, every
// save in one storage transaction, a checkpoint deleting every key of the
// previous version and of the compacted journal and resetting the journal meta.
// A structured clone of a view carries its whole buffer, so every chunk value
// holds the entire update; once that passes SQLite's 2 MB value limit, the put
// fails (SQLITE_TOOBIG) and the transaction with it: a large vault on a
// deployed server is a stale checkpoint of at most ~2 MB plus a long journal.
// Local workerd accepts bigger values than production did, so compactions of
// a full update over `maxCheckpointBytes` (2 MiB) fail here on purpose.
const DEPLOYED_CHUNK = 512 * 1024;
const MAX_KEYS = 128;
// The released coordinator's thresholds (spec 10.4).
const DELTA_CHECKPOINT_BYTES = 2 * 1024 * 1024;
const COMPACT_ENTRIES = 50;
const COMPACT_BYTES = 1024 * 1024;
const BREAKER_LIMIT = 3;

async function putBatched(target, entries) {
  for (let i = 0; i < entries.length; i += MAX_KEYS) {
    await target.put(Object.fromEntries(entries.slice(i, i + MAX_KEYS)));
  }
}

async function deleteBatched(target, keys) {
  for (let i = 0; i < keys.length; i += MAX_KEYS) await target.delete(keys.slice(i, i + MAX_KEYS));
}

function viewChunks(bytes, key) {
  const out = [];
  for (let i = 0; i * DEPLOYED_CHUNK < bytes.length; i++) {
    out.push([key(i), bytes.subarray(i * DEPLOYED_CHUNK, Math.min((i + 1) * DEPLOYED_CHUNK, bytes.length))]);
  }
  return out;
}

const emptyMeta = (now) => ({ format: "yaos-doc-journal-v1", nextSeq: 1, entryCount: 0, totalBytes: 0, updatedAt: now });

class DeployedStore {
  constructor(storage) { this.storage = storage; }

  async meta(txn) { return (await txn.get("document:journal:meta")) ?? emptyMeta(new Date().toISOString()); }

  async append(update) {
    await this.storage.transaction(async (txn) => {
      const now = new Date().toISOString();
      const meta = await this.meta(txn);
      const seq = meta.nextSeq;
      const chunks = viewChunks(update, (i) => `document:journal:chunk:${seq}:${i}`);
      await putBatched(txn, chunks);
      await putBatched(txn, [
        [`document:journal:manifest:${seq}`, {
          format: "yaos-doc-journal-entry-v1", seq, chunkSizeBytes: DEPLOYED_CHUNK, chunkCount: chunks.length,
          byteLength: update.length, sha256: await sha256Hex(update), updatedAt: now,
        }],
        ["document:journal:meta", {
          format: "yaos-doc-journal-v1", nextSeq: seq + 1, entryCount: meta.entryCount + 1,
          totalBytes: meta.totalBytes + update.length, updatedAt: now,
        }],
      ]);
    });
  }

  async checkpoint(update, stateVector) {
    await this.storage.transaction(async (txn) => {
      const now = new Date().toISOString();
      const cleanup = [];
      const pointer = await txn.get("document:checkpoint:current");
      if (pointer) {
        const old = await txn.get(`document:checkpoint:manifest:${pointer.version}`);
        cleanup.push(`document:checkpoint:manifest:${pointer.version}`, `document:checkpoint:state-vector:${pointer.version}`);
        for (let i = 0; i < old.chunkCount; i++) cleanup.push(`document:checkpoint:chunk:${pointer.version}:${i}`);
      }
      const meta = await this.meta(txn);
      for (let seq = meta.nextSeq - meta.entryCount; seq < meta.nextSeq; seq++) {
        const entry = await txn.get(`document:journal:manifest:${seq}`);
        cleanup.push(`document:journal:manifest:${seq}`);
        for (let i = 0; i < entry.chunkCount; i++) cleanup.push(`document:journal:chunk:${seq}:${i}`);
      }
      const version = pointer ? pointer.version + 1 : 1;
      const chunks = viewChunks(update, (i) => `document:checkpoint:chunk:${version}:${i}`);
      await putBatched(txn, chunks);
      await putBatched(txn, [
        [`document:checkpoint:manifest:${version}`, {
          format: "yaos-doc-checkpoint-v2", version, chunkSizeBytes: DEPLOYED_CHUNK, chunkCount: chunks.length,
          byteLength: update.length, sha256: await sha256Hex(update), stateVectorByteLength: stateVector.length,
          stateVectorSha256: await sha256Hex(stateVector), updatedAt: now,
        }],
        [`document:checkpoint:state-vector:${version}`, stateVector],
        ["document:checkpoint:current", { version }],
        ["document:journal:meta", emptyMeta(now)],
      ]);
      await deleteBatched(txn, cleanup);
    });
  }
}

/** A compaction as the released coordinator ran it; a failure counts toward its breaker. */
async function tryCheckpoint(store, doc, stats) {
  const update = Y.encodeStateAsUpdate(doc);
  stats.log.push(update.length);
  try {
    // Production refused these (SQLITE_TOOBIG, see above); local workerd takes
    // values up to about 9 MB, so the production limit is applied here.
    if (update.length > stats.maxCheckpointBytes) throw new Error("string or blob too big: SQLITE_TOOBIG (production limit)");
    await store.checkpoint(update, Y.encodeStateVector(doc));
    stats.checkpoints++;
    stats.breaker = 0;
  } catch (e) {
    stats.log.push("failed");
    stats.failures++;
    stats.breaker++;
    stats.lastError = String(e);
  }
}

/** Saves `doc`'s changes since `since` the way the released coordinator did; returns the new state vector. */
async function deployedSave(store, doc, since, stats) {
  const delta = Y.encodeStateAsUpdate(doc, since);
  if (delta.length > DELTA_CHECKPOINT_BYTES) {
    await tryCheckpoint(store, doc, stats);
    return Y.encodeStateVector(doc);
  }
  await store.append(delta);
  const meta = await store.meta(store.storage);
  if (stats.compact && stats.breaker < BREAKER_LIMIT && (meta.entryCount > COMPACT_ENTRIES || meta.totalBytes > COMPACT_BYTES)) {
    await tryCheckpoint(store, doc, stats);
  }
  return Y.encodeStateVector(doc);
}

/** The old server's other keys in a vault object. */
async function writeOldServerKeys(storage, vault) {
  await storage.put({
    __ps_name: vault,
    roomMeta: { schemaVersion: 2, updatedAt: "2026-05-01T10:00:00.000Z" },
    "trace:00001777629600000:a1b2c3": { ts: "2026-05-01T10:00:00.000Z", event: "server.save.append_succeeded", roomId: vault, deltaBytes: 120 },
    "trace:00001777629601000:d4e5f6": { ts: "2026-05-01T10:00:01.000Z", event: "server.checkpoint.failed", roomId: vault, error: "SQLITE_TOOBIG" },
  });
}

export class VaultSyncServer {
  constructor(ctx) { this.ctx = ctx; }

  async deployed(url, vault) {
    const param = (name, fallback) => Number(url.searchParams.get(name) ?? fallback);
    const notes = param("notes", 40);
    const journalNotes = param("journalNotes", 0);
    const perEntry = Math.max(1, param("perEntry", 1));
    const noteBytes = param("noteBytes", 2048);
    const store = new DeployedStore(this.ctx.storage);
    const stats = {
      checkpoints: 0, failures: 0, breaker: 0, lastError: "", log: [],
      compact: true,
      maxCheckpointBytes: param("maxCheckpointBytes", 2 * 1024 * 1024),
    };
    const doc = new Y.Doc();
    const text = (i) => `note ${i} `.padEnd(noteBytes, "lorem ipsum dolor sit amet ");
    for (let i = 0; i < notes; i++) addNote(doc, i, text(i));
    let sv = await deployedSave(store, doc, new Uint8Array([0]), stats);
    // compact=0: the first save's compaction ran, none after (a server whose breaker stayed open).
    stats.compact = url.searchParams.get("compact") !== "0";
    for (let i = notes; i < notes + journalNotes; i += perEntry) {
      for (let j = i; j < Math.min(i + perEntry, notes + journalNotes); j++) addNote(doc, j, text(j));
      sv = await deployedSave(store, doc, sv, stats);
    }
    await writeOldServerKeys(this.ctx.storage, vault);
    const meta = await store.meta(this.ctx.storage);
    return new Response(Y.encodeStateAsUpdate(doc), {
      headers: {
        "x-checkpoints": String(stats.checkpoints), "x-checkpoint-failures": String(stats.failures),
        "x-last-error": stats.lastError.slice(0, 200), "x-journal-entries": String(meta.entryCount),
        "x-journal-bytes": String(meta.totalBytes), "x-checkpoint-log": stats.log.join(","),
      },
    });
  }

  // A vault stuck read-only: legacy data, plus the Rust server's SQL tables
  // holding an interrupted migration's snapshot (no marker) of a document
  // that lacks it (the old server wrote on after a rollback).
  async stuck(url) {
    const notes = Number(url.searchParams.get("notes") || "20");
    const legacy = new Y.Doc();
    for (let i = 0; i < notes; i++) addNote(legacy, i, `legacy note ${i}`);
    await writeCheckpoint(this.ctx.storage, Y.encodeStateAsUpdate(legacy), Y.encodeStateVector(legacy), 1);
    const sqlOnly = new Y.Doc();
    addNote(sqlOnly, 9000, "only in SQL");
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS snapshot_chunks (chunk_index INTEGER PRIMARY KEY, data BLOB NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL, byte_length INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')))");
    sql.exec("CREATE TABLE IF NOT EXISTS _migration_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    sql.exec("INSERT INTO snapshot_chunks (chunk_index, data) VALUES (0, ?)", Y.encodeStateAsUpdate(sqlOnly));
    const both = new Y.Doc();
    Y.applyUpdate(both, Y.encodeStateAsUpdate(legacy));
    Y.applyUpdate(both, Y.encodeStateAsUpdate(sqlOnly));
    return new Response(Y.encodeStateAsUpdate(both));
  }

  async fetch(request) {
    const url = new URL(request.url);
    const layout = url.searchParams.get("layout");
    if (layout === "deployed") return this.deployed(url, decodeURIComponent(url.pathname.split("/")[2]));
    if (layout === "stuck") return this.stuck(url);
    const notes = Number(url.searchParams.get("notes") || "80");
    const noteBytes = Number(url.searchParams.get("noteBytes") || "0");
    const storage = this.ctx.storage;
    const doc = new Y.Doc();
    // ~3 KB per note by default: several 64 KiB checkpoint chunks for a few dozen notes.
    const text = (i) => (noteBytes > 0 ? `note ${i} `.padEnd(noteBytes, "lorem ipsum ") : `note ${i} `.repeat(400));
    for (let i = 0; i < notes; i++) addNote(doc, i, text(i));
    if (layout === "document-only") {
      await storage.put("document", Y.encodeStateAsUpdate(doc));
      return new Response(Y.encodeStateAsUpdate(doc));
    }
    const update = Y.encodeStateAsUpdate(doc);
    await writeCheckpoint(storage, update, Y.encodeStateVector(doc), 3, { corruptHash: layout === "bad-hash" });
    if (layout === "checkpoint-journal") {
      // Journal: later edits, each captured as its own update, including a deletion.
      const deltas = [];
      const capture = (u) => deltas.push(u);
      doc.on("update", capture);
      addNote(doc, notes, "added after the checkpoint");
      doc.getMap("idToText").get("file-0").insert(0, "edited: ");
      doc.getMap("idToText").get("file-1").delete(0, 100);
      doc.getMap("meta").set("file-2", { path: "notes/note-2.md", deleted: true, deletedAt: 1_700_000_100_000 });
      doc.off("update", capture);
      await writeJournal(storage, deltas, 5);
    }
    return new Response(Y.encodeStateAsUpdate(doc));
  }
}

export class ServerConfig {
  constructor(ctx) { this.ctx = ctx; }

  // The keys and value types the old server's ServerConfig stored.
  async fetch(request) {
    const q = new URL(request.url).searchParams;
    await this.ctx.storage.put({
      claimed: true,
      tokenHash: q.get("tokenHash"),
      updateProvider: q.get("provider"),
      updateRepoUrl: q.get("repoUrl"),
      updateRepoBranch: q.get("branch"),
    });
    return new Response("ok");
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/config") {
      return env.YAOS_CONFIG.get(env.YAOS_CONFIG.idFromName("global-config")).fetch(request);
    }
    const match = url.pathname.match(/^\/seed\/([^/]+)$/);
    if (request.method !== "POST" || !match) return new Response("not found", { status: 404 });
    const vault = decodeURIComponent(match[1]);
    return env.YAOS_SYNC.get(env.YAOS_SYNC.idFromName(vault)).fetch(request);
  },
};
