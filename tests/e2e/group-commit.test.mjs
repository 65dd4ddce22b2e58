// Group commit against the real server with its production default window
// (YAOS_COMMIT_WINDOW_MS unset: 2.5 s). One device types, one keystroke per
// transaction, while another watches: every keystroke reaches the watcher
// as it is typed, but the server writes one row per window instead of one
// per keystroke, and every keystroke is acknowledged in the end. A SIGKILL
// inside a window loses nothing that was acknowledged, and the typist's
// unacknowledged keystrokes reach the server again when it reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./harness.mjs";
import { tracked } from "./tracked.mjs";
import { Y, addNote, noteText, coveringEcho, echoedStateVector, docUntil } from "./clients.mjs";
import { debugJson } from "./http.mjs";

const TOKEN = "e2e-group-commit-token-0123456789abcd";
// null: the harness binds nothing, so the server runs its default window.
const { start, stop, kill, connect, close } = tracked({ token: TOKEN, vars: { YAOS_COMMIT_WINDOW_MS: null } });

test("typing 100 keystrokes, each its own transaction: the watcher sees each, the server writes a few rows, all are acknowledged", { timeout: 120_000 }, async () => {
  const server = await start();
  const vault = "typing-vault";
  const typist = connect(server, { vault });
  const watcher = connect(server, { vault });
  await Promise.all([typist.synced(), watcher.synced()]);
  const id = addNote(typist.doc, "typed.md", "");
  await coveringEcho(typist, 15_000, "the note's echo");
  await docUntil(watcher.doc, (d) => noteText(d, id) === "", 15_000, "the watcher has the note");
  const before = (await debugJson(server, vault, TOKEN)).persistence.successfulSaveCount;

  const text = typist.doc.getMap("idToText").get(id);
  let typed = "";
  for (let i = 0; i < 100; i++) {
    const ch = "abcdefghij"[i % 10];
    text.insert(typed.length, ch); // one transaction, one Update frame
    typed += ch;
    // The watcher gets the keystroke before the next is typed: relaying
    // does not wait for the window.
    await docUntil(watcher.doc, (d) => noteText(d, id) === typed, 15_000, `keystroke ${i} at the watcher`);
    await new Promise((r) => setTimeout(r, 20)); // the typing pace (50 a second), not a synchronisation
  }
  await coveringEcho(typist, 15_000, "the echo covering every keystroke");
  const after = (await debugJson(server, vault, TOKEN)).persistence;
  const saves = after.successfulSaveCount - before;
  // About 3 s of typing in 2.5 s windows: a handful of writes, where one per
  // keystroke would be 100.
  assert.ok(saves >= 1 && saves <= 10, `${saves} saves for 100 keystrokes`);
  assert.equal(after.pendingPersistence, false);
});

test("SIGKILL inside a commit window loses no acknowledged keystroke; the unacknowledged ones come back with the typist", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const vault = "window-kill-vault";
  // The longest window, so the kill lands inside it however slow the
  // machine: what is tested is the kill, not the default's length.
  const longWindow = { YAOS_COMMIT_WINDOW_MS: "10000" };
  let server = await start({ persistDir: dir, vars: longWindow });
  const typist = connect(server, { vault });
  await typist.synced();
  const me = typist.doc.clientID;
  const id = addNote(typist.doc, "k.md", "acknowledged ");
  await coveringEcho(typist, 15_000, "the note's echo"); // a quiet edit: written at once
  const acknowledgedClock = Y.decodeStateVector(Y.encodeStateVector(typist.doc)).get(me);
  const watcher = connect(server, { vault });
  await watcher.synced();
  const echoesBefore = (await debugJson(server, vault, TOKEN)).svEcho.postApplySent;
  const text = typist.doc.getMap("idToText").get(id);
  const workerd = server.workerdPids();
  for (const ch of "in the window") text.insert(text.length, ch); // each its own frame
  // The watcher has them: the server took every frame (the window is 10 s
  // from the note's write, so this is inside it). None was acknowledged:
  // they are not written yet.
  await docUntil(watcher.doc, (d) => noteText(d, id) === "acknowledged in the window", 15_000, "the keystrokes at the watcher");
  const echoesAfter = (await debugJson(server, vault, TOKEN)).svEcho.postApplySent;
  assert.equal(echoesAfter, echoesBefore, "no postApply echo inside the window");
  await kill(server, workerd);
  close(watcher);
  assert.ok(typist.echoes.every((e) => (echoedStateVector(e).get(me) ?? 0) <= acknowledgedClock), "nothing past the note acknowledged");
  close(typist);

  server = await start({ persistDir: dir, vars: longWindow });
  const fresh = connect(server, { vault });
  await fresh.synced();
  assert.equal(noteText(fresh.doc, id), "acknowledged ", "the acknowledged edit survived");
  // The typist reconnects with its document: its sync sends the keystrokes
  // the server lost, which are written and acknowledged.
  const back = connect(server, { vault, doc: typist.doc });
  await back.synced();
  await coveringEcho(back, 15_000, "the resent keystrokes' echo");
  await docUntil(fresh.doc, (d) => noteText(d, id) === "acknowledged in the window", 15_000, "the resent keystrokes");
  await stop(server);
});
