// The vault's notes as the unmodified plugin reads and writes them
// (kavinsood/yaos src/sync/vaultSync.ts and fileMeta.ts): a note is the
// meta entry (a nested Y.Map from schema 3, a plain object before) whose
// path it holds and which is not a tombstone (`deletedAt` or the legacy
// `deleted: true`); two active entries on one path go to the later mtime,
// then the greater ID. Tests read restored notes through this rule, so a
// restore that wrote another shape than the plugin's would not be seen.
import { Y } from "./clients.mjs";

function field(value, key) {
  if (value instanceof Y.Map) return value.get(key);
  if (value && typeof value === "object") return value[key];
  return undefined;
}

function tombstoned(value) {
  const deletedAt = field(value, "deletedAt");
  return (typeof deletedAt === "number" && Number.isFinite(deletedAt)) || field(value, "deleted") === true;
}

/** Active path → { id, text, nested } by the plugin's path rule. */
export function activeNotes(doc) {
  const winners = new Map();
  doc.getMap("meta").forEach((value, id) => {
    const path = field(value, "path");
    if (typeof path !== "string" || path.length === 0 || tombstoned(value)) return;
    const mtime = field(value, "mtime") ?? 0;
    const held = winners.get(path);
    if (!held || mtime > held.mtime || (mtime === held.mtime && id > held.id)) winners.set(path, { id, mtime });
  });
  const out = new Map();
  for (const [path, { id }] of winners) {
    out.set(path, { id, text: doc.getMap("idToText").get(id)?.toString(), nested: doc.getMap("meta").get(id) instanceof Y.Map });
  }
  return out;
}

/** The plugin's delete of a note (`setMetaDeleted` on its nested entry). */
export function deleteNote(doc, path) {
  const note = activeNotes(doc).get(path);
  if (!note) throw new Error(`no active note at ${path}`);
  doc.transact(() => {
    const entry = doc.getMap("meta").get(note.id);
    entry.set("path", path);
    entry.set("deletedAt", Date.now());
    entry.delete("deleted");
    entry.delete("mtime");
    entry.delete("device");
  });
}

/** An overwrite of a note's whole text (a misbehaving plugin, an agent). */
export function overwriteNote(doc, path, text) {
  const note = activeNotes(doc).get(path);
  if (!note) throw new Error(`no active note at ${path}`);
  const ytext = doc.getMap("idToText").get(note.id);
  doc.transact(() => {
    ytext.delete(0, ytext.length);
    ytext.insert(0, text);
  });
}
