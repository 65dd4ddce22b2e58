// The status page's snapshot browser (issue 24) in Debian's headless
// Chromium, against a real vault under wrangler dev: a client writes three
// notes in two folders, a manual snapshot is taken, the client deletes one
// note, rewrites another and adds a fourth; the page then shows the
// comparison (counts, states, a folder filter, "only differences"), the
// deleted note's old text (as text, never markup), and restores both notes
// after a confirmation that names what changes. The client's document then
// holds both notes active with the snapshot's texts, and the vault as it was
// before the restore is a snapshot of its own. Screenshots at 1280 and 390 px
// go to tests/e2e/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launchChromium, ARTIFACTS } from "./chromium.mjs";
import { addNote, coveringEcho, docUntil } from "./clients.mjs";
import { activeNotes, deleteNote, overwriteNote } from "./plugin_notes.mjs";
import { tracked } from "./tracked.mjs";

const TOKEN = "e2e-browse-token-0123456789abcdef0123";
const VAULT = "browse-vault";
const auth = { Authorization: `Bearer ${TOKEN}` };

// Paths with a space, a '#' and markup: the page encodes them per segment and shows them as text.
const PLAN = "Projects/plan <b>bold.md";
const IDEA = "Projects/old idea #1.md";
const DAY = "Journal/2024 day.md";
const ADDED = "Projects/new.md";
const PLAN_TEXT = "The plan, never touched.\n";
const IDEA_TEXT = "An idea <img src=x onerror=\"window.__pwned=1\"> worth keeping.\n";
const DAY_TEXT = "Dear diary, the first version.\n";
const DAY_REWRITTEN = "Dear diary, rewritten after the snapshot and longer than before.\n";
const bytes = (text) => `${Buffer.byteLength(text)} B`;

const { start, connect } = tracked({ token: TOKEN, vault: VAULT });
let browser, chrome, pageErrors, consoleErrors;

before(async () => {
  chrome = await launchChromium("yaos-chromium-browse-");
  ({ browser, pageErrors, consoleErrors } = chrome);
});

after(async () => {
  await chrome?.close();
});

/** The text of the active note at `path` by the plugin's rule, or undefined. */
const activeText = (doc, path) => activeNotes(doc).get(path)?.text;

async function files(server, snapshotId) {
  const res = await fetch(`${server.url}/vault/${VAULT}/snapshots/${encodeURIComponent(snapshotId)}/files`, { headers: auth });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

/** The browse list's rows as [path, state, path cell, size, state in words, action]. */
const rows = (page) => page.$$eval("#browse-notes tbody tr", (trs) => trs.map((tr) => [tr.dataset.path, tr.dataset.state, ...[...tr.cells].slice(1).map((td) => td.textContent)]));
/** The confirmation's rows as [path, action, path cell, action in words, sizes], by path. */
const planRows = (page) => page.$$eval("#restore-plan tbody tr", (trs) => trs.map((tr) => [tr.dataset.path, tr.dataset.action, ...[...tr.cells].map((td) => td.textContent)]).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
const counts = (page) => page.evaluate(() => Object.fromEntries(["changed", "deleted", "added", "unchanged"].map((k) => [k, document.getElementById(`count-${k}`).textContent])));
const row = (path) => `#browse-notes tbody tr[data-path="${path.replace(/"/g, '\\"')}"]`;

async function noSidewaysScroll(page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
}

test("the status page browses a snapshot, shows a note's old text and restores notes after a confirmation", { timeout: 180000 }, async () => {
  const server = await start();
  const client = connect(server);
  await client.synced();
  for (const [path, text] of [[PLAN, PLAN_TEXT], [IDEA, IDEA_TEXT], [DAY, DAY_TEXT]]) addNote(client.doc, path, text);
  await coveringEcho(client);
  const snap = await fetch(`${server.url}/vault/${VAULT}/snapshots`, { method: "POST", headers: auth, body: JSON.stringify({ device: "e2e" }) });
  assert.equal(snap.status, 200);
  const { snapshotId } = await snap.json();
  assert.ok(snapshotId);

  deleteNote(client.doc, IDEA);
  overwriteNote(client.doc, DAY, DAY_REWRITTEN);
  addNote(client.doc, ADDED, "Written after the snapshot.\n");
  await coveringEcho(client);
  // The route the page reads, as the server answers it.
  const before = await files(server, snapshotId);
  assert.deepEqual(before.comparison, { added: [ADDED], deleted: [IDEA], changed: [DAY], unchanged: 1 });

  const page = await browser.newPage();
  await page.goto(`${server.url}/status`);
  await page.fill("#vault-id", VAULT);
  await page.fill("#token", TOKEN);
  await page.click("#load");
  const snapRow = `#snapshots tbody tr[data-snapshot-id="${snapshotId}"]`;
  await page.click(`${snapRow} button.browse`);
  await page.waitForFunction(() => /in this snapshot\.$/.test(document.getElementById("browse-message").textContent) || document.getElementById("browse-message").dataset.state === "error");
  assert.equal(await page.textContent("#browse-message"), "3 note(s) in this snapshot.");
  assert.equal(await page.textContent("#browse-id"), snapshotId);
  assert.deepEqual(await counts(page), { changed: "1", deleted: "1", added: "1", unchanged: "1" });

  // Only the differences by default, sorted by path; the sizes are the snapshot's.
  assert.equal(await page.isChecked("#browse-diff-only"), true);
  assert.deepEqual(await rows(page), [
    [DAY, "changed", DAY, bytes(DAY_TEXT), "changed since", "View"],
    [ADDED, "added", ADDED, "—", "added since (not in this snapshot)", ""],
    [IDEA, "deleted", IDEA, bytes(IDEA_TEXT), "deleted now", "View"],
  ]);
  assert.equal(await page.locator(`${row(ADDED)} input[type=checkbox]`).count(), 0, "an added note has nothing to restore");
  await page.uncheck("#browse-diff-only");
  assert.deepEqual((await rows(page)).map((r) => [r[0], r[4]]), [[DAY, "changed since"], [ADDED, "added since (not in this snapshot)"], [IDEA, "deleted now"], [PLAN, "unchanged"]]);
  assert.equal(await page.evaluate(() => document.querySelectorAll("#browse-section b").length), 0, "a path is text, not markup");
  await page.check("#browse-diff-only");

  // The folder filter: the folders present, with their note counts; then a name filter.
  assert.deepEqual(await page.$$eval("#browse-folder option", (os) => os.map((o) => [o.value, o.textContent])),
    [["", "All folders"], ["Journal/", "Journal/ (1)"], ["Projects/", "Projects/ (3)"]]);
  await page.selectOption("#browse-folder", "Projects/");
  assert.deepEqual((await rows(page)).map((r) => r[0]), [ADDED, IDEA]);
  await page.fill("#browse-search", "IDEA");
  assert.deepEqual((await rows(page)).map((r) => r[0]), [IDEA]);
  assert.equal(await page.textContent("#browse-shown"), "1 note(s) that differ from now match.");

  // The deleted note's text as of the snapshot, as text.
  await page.click(`${row(IDEA)} button.view`);
  await page.waitForSelector("#note-view-text:not([hidden])");
  assert.equal(await page.textContent("#note-view-path"), IDEA);
  assert.equal(await page.textContent("#note-view-text"), IDEA_TEXT);
  assert.equal(await page.textContent("#note-view-meta"), `as in snapshot ${snapshotId}, ${bytes(IDEA_TEXT)}`);
  assert.equal(await page.evaluate(() => document.querySelectorAll("img").length), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  // Select both, the filter cleared; the panel at both widths.
  await page.fill("#browse-search", "");
  await page.selectOption("#browse-folder", "");
  await page.check(`${row(IDEA)} input[type=checkbox]`);
  await page.check(`${row(DAY)} input[type=checkbox]`);
  assert.equal(await page.textContent("#browse-selected"), "2 selected.");
  assert.equal(await page.isEnabled("#restore-selected"), true);
  await page.locator("#browse-section").screenshot({ path: join(ARTIFACTS, "status-browse-1280.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await noSidewaysScroll(page);
  await page.locator("#browse-section").screenshot({ path: join(ARTIFACTS, "status-browse-390.png") });
  await page.setViewportSize({ width: 1280, height: 900 });

  // The confirmation names what changes; Cancel changes nothing.
  const expectedPlan = [
    [DAY, "replace", DAY, "text replaced by the snapshot's", `${bytes(DAY_REWRITTEN)} → ${bytes(DAY_TEXT)}`],
    [IDEA, "revive", IDEA, "brought back (deleted now)"],
  ];
  await page.click("#restore-selected");
  await page.waitForSelector("#restore-dialog[open]");
  const plan = await planRows(page);
  assert.deepEqual(plan[0], expectedPlan[0]);
  assert.deepEqual(plan[1].slice(0, 4), expectedPlan[1]);
  assert.match(plan[1][4], new RegExp(`→ ${bytes(IDEA_TEXT)}$`));
  assert.match(await page.textContent("#restore-summary"), new RegExp(`^2 of the 2 selected note\\(s\\) change to their text in snapshot ${snapshotId} \\(1 brought back, 1 replaced\\)\\. The vault as it is now is saved as a snapshot first`));
  assert.equal(await page.textContent("#restore-confirm"), "Restore 2 note(s)");
  await page.screenshot({ path: join(ARTIFACTS, "status-restore-confirm-1280.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  const box = await page.locator("#restore-dialog").boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `the dialog fits a 390 px phone: ${JSON.stringify(box)}`);
  await page.screenshot({ path: join(ARTIFACTS, "status-restore-confirm-390.png") });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.click("#restore-cancel");
  assert.equal(await page.isVisible("#restore-dialog"), false);
  assert.deepEqual((await files(server, snapshotId)).comparison, before.comparison, "a dry run and a cancel change nothing");

  // Confirmed: the result names the pre-restore snapshot; the list and the comparison reload.
  await page.click("#restore-selected");
  await page.waitForSelector("#restore-dialog[open]");
  await page.click("#restore-confirm");
  await page.waitForFunction(() => document.getElementById("restore-result").dataset.state === "good" || document.getElementById("restore-result").dataset.state === "error");
  const done = await page.textContent("#restore-result");
  const m = done.match(new RegExp(`^Restored 2 note\\(s\\) from snapshot ${snapshotId} \\(1 brought back, 1 replaced\\)\\. The vault as it was just before is saved as snapshot (\\S+): browse it to undo\\.$`));
  assert.ok(m, done);
  const preRestore = m[1];
  await page.waitForSelector(`#snapshots tbody tr[data-snapshot-id="${preRestore}"]`);
  await page.waitForFunction(() => document.getElementById("count-unchanged").textContent === "3");
  assert.deepEqual(await counts(page), { changed: "0", deleted: "0", added: "1", unchanged: "3" });
  assert.equal(await page.textContent("#browse-selected"), "Select notes to restore them.");
  await page.screenshot({ path: join(ARTIFACTS, "status-restore-done-1280.png"), fullPage: true });

  // The client receives both notes, active, with the snapshot's texts.
  await docUntil(client.doc, (d) => activeText(d, IDEA) === IDEA_TEXT && activeText(d, DAY) === DAY_TEXT, 15000, "the restored notes");
  assert.equal(activeText(client.doc, PLAN), PLAN_TEXT);
  assert.equal(activeText(client.doc, ADDED), "Written after the snapshot.\n");
  // The pre-restore snapshot holds the vault as it was: the idea deleted, the diary rewritten.
  const undo = await files(server, preRestore);
  assert.deepEqual(undo.comparison.added, [IDEA]);
  assert.deepEqual(undo.comparison.changed, [DAY]);

  await page.close();
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, [], "no CSP violation or script error");
});
