// The benchmarks' vault content: deterministic markdown-like notes laid out
// in folders as a plugin vault would be, and a client seeding them.
import { addNote, coveringEcho } from "../e2e/clients.mjs";
const WORDS = ("the of and to in is that for it as with was on be by this are from or at an which but not have "
  + "vault note sync server client merge update state vector journal snapshot markdown heading link tag "
  + "obsidian plugin folder file text edit draft idea list todo done review project meeting summary").split(" ");

/** Deterministic markdown-like text of exactly `bytes` ASCII characters. */
export function noteBody(i, bytes) {
  let x = (i * 2654435761 + 1) >>> 0 || 1;
  const parts = [`# Note ${i}\n\n`];
  let len = parts[0].length;
  while (len < bytes) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const w = WORDS[x % WORDS.length] + (x % 17 === 0 ? ".\n\n" : " ");
    parts.push(w);
    len += w.length;
  }
  return parts.join("").slice(0, bytes);
}
/**
 * Seeds notes 0..notes-1 through a synced `client` in transactions of
 * `batch` notes (one update frame each), each acknowledged before the next.
 */
export async function seedInBatches(client, notes, { batch = 2500, noteBytes = 2048, ms = 120000 } = {}) {
  for (let from = 0; from < notes; from += batch) {
    client.doc.transact(() => {
      for (let i = from; i < Math.min(notes, from + batch); i++) addNote(client.doc, notePath(i), noteBody(i, noteBytes));
    });
    await coveringEcho(client, ms, `the echo of notes ${from}..`);
  }
}

export const notePath = (i) => `notes/folder-${String(i % 100).padStart(2, "0")}/note-${i}.md`;

