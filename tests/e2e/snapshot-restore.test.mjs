// Snapshots a person can use (issue 24): a client writes notes, a snapshot
// is taken, the client deletes one note and overwrites another; the
// snapshot's notes are browsed against the live vault, one note's old text
// read, a dry run changes nothing, and the restore brings both back as the
// plugin would have written them: the connected client, a fresh client and
// a client after a restart read both as active notes with the snapshot's
// text (through the plugin's own path rule, tests/e2e/plugin_notes.mjs).
// The restore took a manual snapshot first, from which it can be undone,
// and is in the traces with who asked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./harness.mjs";
import { tracked } from "./tracked.mjs";
import { addNote, coveringEcho, docUntil } from "./clients.mjs";
import { activeNotes, deleteNote, overwriteNote } from "./plugin_notes.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-snapshot-restore-token-0123456789";
const VAULT = "restore-vault";
const { start, stop, connect } = tracked({ token: TOKEN, vault: VAULT });

const KEEP = "Notes/keep.md";
const GONE = "Notes/gone one.md";
const CLOBBERED = "Ideas/overwritten.md";
const TEXTS = { [KEEP]: "stays as it was\n", [GONE]: "# Gone\n\nwill be deleted, then restored ✓\n", [CLOBBERED]: "the good text\nline two\n" };

async function call(server, method, path, body) {
  const res = await fetch(`${server.url}/vault/${VAULT}/${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, type: res.headers.get("content-type"), text, json };
}

const encodePath = (path) => path.split("/").map(encodeURIComponent).join("/");

/** Waits until the client's document holds `want` (path → text) as active notes. */
function notesUntil(client, want, what) {
  return docUntil(client.doc, () => {
    const notes = activeNotes(client.doc);
    return Object.entries(want).every(([path, text]) => notes.get(path)?.text === text);
  }, 15000, what);
}

test("browse a snapshot, read a note, dry-run, restore a deleted and an overwritten note", { timeout: 180_000 }, async () => {
  const dir = tempDir();
  let server = await start({ persistDir: dir });
  const a = connect(server, { device: "laptop" });
  await a.synced();
  for (const [path, text] of Object.entries(TEXTS)) addNote(a.doc, path, text);
  await coveringEcho(a);

  const snap = await call(server, "POST", "snapshots", { device: "laptop" });
  assert.equal(snap.status, 200, snap.text);
  const id = snap.json.snapshotId;
  assert.ok(id, snap.text);

  deleteNote(a.doc, GONE);
  overwriteNote(a.doc, CLOBBERED, "clobbered by an agent\n");
  addNote(a.doc, "Later/new.md", "written after the snapshot\n");
  await coveringEcho(a);

  // Browse: every snapshot note with its state now, and the comparison.
  const files = await call(server, "GET", `snapshots/${id}/files`);
  assert.equal(files.status, 200, files.text);
  const byPath = Object.fromEntries(files.json.notes.map((n) => [n.path, n]));
  assert.deepEqual(Object.keys(byPath).sort(), Object.keys(TEXTS).sort());
  assert.deepEqual(byPath[KEEP], { path: KEEP, bytes: Buffer.byteLength(TEXTS[KEEP]), now: "active", changed: false });
  assert.equal(byPath[GONE].now, "deleted");
  assert.deepEqual([byPath[CLOBBERED].now, byPath[CLOBBERED].changed], ["active", true]);
  assert.deepEqual(files.json.comparison, { added: ["Later/new.md"], deleted: [GONE], changed: [CLOBBERED], unchanged: 1 });

  // One note's old text; bad paths and unknown ones.
  const old = await call(server, "GET", `snapshots/${id}/files/${encodePath(GONE)}`);
  assert.equal(old.status, 200, old.text);
  assert.equal(old.type, "text/markdown; charset=utf-8");
  assert.equal(old.text, TEXTS[GONE]);
  assert.equal((await call(server, "GET", `snapshots/${id}/files/${encodeURIComponent(GONE)}`)).text, TEXTS[GONE], "a whole path encoded with %2F");
  assert.equal((await call(server, "GET", `snapshots/${id}/files/Notes/..%2Fx.md`)).json.error, "invalid_path");
  assert.equal((await call(server, "GET", `snapshots/${id}/files/Notes/none.md`)).json.error, "note_not_in_snapshot");
  assert.equal((await call(server, "GET", `snapshots/0-00000000/files`)).status, 404);

  // A dry run says what would change and changes nothing.
  const paths = [GONE, CLOBBERED, KEEP];
  const dry = await call(server, "POST", `snapshots/${id}/restore`, { paths, dryRun: true, device: "status page" });
  assert.equal(dry.status, 200, dry.text);
  assert.deepEqual(dry.json.restored.map((r) => [r.path, r.action]), [[GONE, "revive"], [CLOBBERED, "replace"], [KEEP, "unchanged"]]);
  assert.equal(dry.json.preRestoreSnapshotId, undefined);
  const unknown = await call(server, "POST", `snapshots/${id}/restore`, { paths: ["Notes/none.md"] });
  assert.deepEqual([unknown.status, unknown.json.error], [404, "note_not_in_snapshot"]);
  const many = await call(server, "POST", `snapshots/${id}/restore`, { paths: Array.from({ length: 101 }, (_, i) => `n${i}.md`) });
  assert.deepEqual([many.status, many.json.error, many.json.limit], [400, "too_many_paths", 100]);
  assert.equal(activeNotes(a.doc).has(GONE), false, "the dry run wrote nothing");

  // The restore: the connected client sees both back, as the plugin reads notes.
  const done = await call(server, "POST", `snapshots/${id}/restore`, { paths, device: "status page" });
  assert.equal(done.status, 200, done.text);
  assert.deepEqual(done.json.restored.map((r) => r.action), ["revive", "replace", "unchanged"]);
  const before = done.json.preRestoreSnapshotId;
  assert.ok(before && before !== id, done.text);
  const restored = { [GONE]: TEXTS[GONE], [CLOBBERED]: TEXTS[CLOBBERED], [KEEP]: TEXTS[KEEP] };
  await notesUntil(a, restored, "the connected client sees the restore");
  const revived = activeNotes(a.doc).get(GONE);
  assert.equal(revived.nested, true, "schema 3: the revived note's meta is a nested Y.Map, as the plugin writes");
  const entry = a.doc.getMap("meta").get(revived.id);
  assert.deepEqual(Object.keys(entry.toJSON()).sort(), ["device", "mtime", "path"]);
  assert.equal(entry.get("device"), "status page");
  assert.equal([...a.doc.getMap("meta").values()].filter((m) => m.get("path") === GONE).length, 1, "the tombstone is gone");

  // A fresh device sees them too.
  const b = connect(server);
  await b.synced();
  await notesUntil(b, restored, "a fresh client sees the restore");

  // The pre-restore snapshot holds what the restore replaced: it can be undone.
  const undo = await call(server, "GET", `snapshots/${before}/files/${encodePath(CLOBBERED)}`);
  assert.equal(undo.text, "clobbered by an agent\n");
  const list = await call(server, "GET", "snapshots");
  assert.ok(list.json.snapshots.some((s) => s.snapshotId === before && s.reason === "manual"), list.text);

  // Traced with who asked and which paths.
  const debug = await debugJson(server, VAULT, TOKEN);
  const trace = debug.recent.find((t) => t.event === "snapshot-restored");
  assert.ok(trace, JSON.stringify(debug.recent.map((t) => t.event)));
  assert.equal(trace.requestedBy, "status page");
  assert.equal(trace.preRestoreSnapshotId, before);
  assert.deepEqual(trace.paths.map((p) => [p.path, p.action]), [[GONE, "revive"], [CLOBBERED, "replace"], [KEEP, "unchanged"]]);

  // The restore outlives a restart.
  await stop(server);
  server = await start({ persistDir: dir });
  const c = connect(server);
  await c.synced();
  await notesUntil(c, restored, "after a restart");
});
