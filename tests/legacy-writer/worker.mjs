// Writes legacy-format vault state (spec 10.3) through the Durable Object
// key-value API, the way the older TypeScript server laid it out: a
// checkpoint of 64 KiB chunks with manifest, state vector and pointer, plus a
// journal of chunked entries; or only the oldest single `document` key.
//
// POST /seed/<vault>?layout=checkpoint-journal|document-only|bad-hash&notes=N[&noteBytes=B]
// answers the full Yjs update of the document it wrote (for comparison).
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

export class VaultSyncServer {
  constructor(ctx) { this.ctx = ctx; }

  async fetch(request) {
    const url = new URL(request.url);
    const layout = url.searchParams.get("layout");
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
  async fetch() { return new Response("not found", { status: 404 }); }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const match = url.pathname.match(/^\/seed\/([^/]+)$/);
    if (request.method !== "POST" || !match) return new Response("not found", { status: 404 });
    const vault = decodeURIComponent(match[1]);
    return env.YAOS_SYNC.get(env.YAOS_SYNC.idFromName(vault)).fetch(request);
  },
};
