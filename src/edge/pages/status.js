"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "yaos-status-token";
  const VAULT_KEY = "yaos-status-vault";
  const ISOLATE_BYTES = 128 * 1024 * 1024;
  const form = $("status-form");
  const vaultInput = $("vault-id");
  const tokenInput = $("token");
  const message = $("message");
  const report = $("report");

  // The token lives in this tab only: never in the URL, never in localStorage.
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
  vaultInput.value = sessionStorage.getItem(VAULT_KEY) || "";

  function say(text, isError) {
    message.textContent = text;
    message.classList.toggle("error", Boolean(isError));
    message.dataset.state = isError ? "error" : "ok";
  }

  // `body` (POST only) goes as JSON; a POST without one sends `{}`.
  function request(method, path, body) {
    const headers = { Authorization: `Bearer ${tokenInput.value}` };
    if (method === "POST") headers["Content-Type"] = "application/json";
    return fetch(path, {
      method,
      headers,
      cache: "no-store",
      body: method === "POST" ? JSON.stringify(body || {}) : undefined,
    });
  }

  const vaultPath = () => `/vault/${encodeURIComponent(vaultInput.value.trim())}`;

  function mb(bytes) {
    if (bytes === null || bytes === undefined) return "—";
    return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
  }

  function show(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  // Every value goes in as text: nothing from the server is parsed as HTML.
  function fill(id, rows) {
    const list = $(id);
    list.replaceChildren();
    for (const [label, value, tone] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = show(value);
      if (tone) dd.className = tone;
      list.append(dt, dd);
    }
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = show(text);
    row.append(td);
    return td;
  }

  function render(d) {
    const p = d.persistence || {};
    const s = d.storage || {};
    const r = d.room || {};
    const e = d.svEcho || {};
    const meter = $("wasm-meter");
    meter.value = d.wasmMemoryBytes || 0;
    $("wasm-text").textContent = d.wasmMemoryBytes === null || d.wasmMemoryBytes === undefined
      ? "Not reported."
      : `${(d.wasmMemoryBytes / 1e6).toFixed(1)} MB of the isolate's 128 MB (${Math.round((d.wasmMemoryBytes / ISOLATE_BYTES) * 100)}%). Wasm memory never shrinks: this is the peak since the object started.`;
    // SQL rows billed today (UTC) by this vault's object since it started,
    // against the free plan's daily limit (shared by every vault of the account).
    const b = d.budget || {};
    const written = b.sqlRowsWrittenToday;
    const limit = b.dailyRowsWrittenLimit || 100000;
    $("rows-meter").max = limit;
    $("rows-meter").value = written || 0;
    $("rows-text").textContent = written === null || written === undefined
      ? "Not reported."
      : `${written} of the free plan's ${limit} SQL rows written a day (${b.day}, UTC), ${Math.round((written / limit) * 100)}%, by this vault's object; every vault of the account shares the limit.`;
    // The platform refusing writes for its daily quota: edits are relayed
    // but not stored until the reset, and devices get no receipt meanwhile.
    const q = b.quotaExceeded;
    $("quota-text").hidden = !q;
    $("quota-text").textContent = q
      ? `Cloudflare is refusing writes: the account's daily allowance is used up (since ${q.since}). Edits still reach the other devices, but none is stored or acknowledged until the allowance resets at ${q.liftsAt}; the server retries on its own and then writes everything it holds. Devices keep their edits and send them again if the server restarts meanwhile. Platform error: ${q.error || "—"}`
      : "";
    const windowText = (ms) => (ms === null || ms === undefined ? null : `${ms} ms`);
    fill("budget", [
      ["Rows read today", b.sqlRowsReadToday],
      ["Requests / messages today", `${show(b.requestsToday)} / ${show(b.incomingMessagesToday)} of the free plan's ${show(b.dailyRequestsLimit)} requests`],
      ["Alarms set today", b.alarmsSetToday],
      ["Rows written / read since start", `${show(b.sqlRowsWrittenSinceActivation)} / ${show(b.sqlRowsReadSinceActivation)}`],
      ["Daily row budget", b.dailyRowBudget],
      ["Commit window", b.commitWindowMs === b.configuredCommitWindowMs ? windowText(b.commitWindowMs) : `${windowText(b.commitWindowMs)} (widened from ${windowText(b.configuredCommitWindowMs)} as today's rows near the budget)`],
    ]);
    fill("storage", [
      ["Document loaded", d.documentLoaded ? "yes" : "no (the object is idle or was evicted)"],
      ["Mode", s.mode],
      ["Migration", s.migrationStatus],
      ["Migrated at", s.migrationAt],
      ["Migration took", s.migrationDurationMs === null || s.migrationDurationMs === undefined ? null : `${s.migrationDurationMs} ms`],
      ["Cold load took", s.coldLoadDurationMs === null || s.coldLoadDurationMs === undefined ? null : `${s.coldLoadDurationMs} ms`],
    ]);
    fill("saves", [
      ["Health", p.status, p.status === "healthy" ? "good" : "bad"],
      ["Last success", p.lastSaveSucceededAt],
      ["Last failure", p.lastSaveFailedAt, p.lastSaveFailedAt ? "bad" : ""],
      ["Last error", p.lastSaveError, p.lastSaveError ? "bad" : ""],
      ["Saves ok / failed", `${show(p.successfulSaveCount)} / ${show(p.failedSaveCount)}`],
      ["Failures in a row", p.consecutiveSaveFailures],
      ["Waiting to be saved", p.pendingPersistence ? "yes" : "no"],
      ["Checkpoint fallbacks", p.checkpointFallbackCount],
    ]);
    fill("sizes", [
      ["Snapshot", r.snapshotBytes === null || r.snapshotBytes === undefined ? null : `${mb(r.snapshotBytes)} in ${r.snapshotChunks} rows`],
      ["Journal entries", p.journalEntryCount],
      ["Journal bytes", p.journalBytes],
      ["Oversized deltas", s.oversizedDeltaCount],
    ]);
    fill("compaction", [
      ["Last compaction", p.lastCompactionAt],
      ["Reason", p.lastCompactionReason],
      ["Last error", p.lastCompactionError, p.lastCompactionError ? "bad" : ""],
      ["Due now", r.compactionDue === null || r.compactionDue === undefined ? null : r.compactionDue ? "yes" : "no"],
      ["Failures in a row", r.consecutiveCompactionFailures],
      ["Circuit breaker", r.compactionBreakerOpen === null || r.compactionBreakerOpen === undefined ? null : r.compactionBreakerOpen ? "open (compaction paused)" : "closed", r.compactionBreakerOpen ? "bad" : ""],
    ]);
    fill("connections", [
      ["Open sockets", r.openSockets],
      ["Awareness clients", r.awarenessClients],
      ["Active paths", d.documentSummary ? d.documentSummary.activePathCount : null],
    ]);
    fill("sv-echo", [
      ["Baseline sent", e.baselineSent],
      ["postApply sent", e.postApplySent],
      ["Failed", e.failed, e.failed ? "bad" : ""],
      ["Bytes (total / largest)", `${show(e.bytesTotal)} / ${show(e.bytesMax)}`],
    ]);
    // Refusals the plugin ignores: shown only when there are some, above the rest.
    const refused = d.refusedFrames || { count: 0, recent: [] };
    $("refused-section").hidden = !(refused.count > 0);
    $("refused-text").textContent = `${refused.count} frame(s) refused since the vault's object started: those devices' changes or sync did not go through, and the plugin does not say so.`;
    const refusedRows = $("refused").tBodies[0];
    refusedRows.replaceChildren();
    for (const entry of refused.recent || []) {
      const row = document.createElement("tr");
      cell(row, entry.at);
      cell(row, entry.device);
      cell(row, mb(entry.bytes));
      cell(row, entry.reason);
      refusedRows.append(row);
    }
    const traces = $("traces").tBodies[0];
    traces.replaceChildren();
    for (const entry of d.recent || []) {
      const row = document.createElement("tr");
      const { ts, event, roomId, ...rest } = entry;
      cell(row, ts);
      cell(row, event);
      cell(row, Object.keys(rest).length ? rest : "");
      traces.append(row);
    }
    $("fetched-at").textContent = `Fetched ${new Date().toLocaleTimeString()}`;
    report.hidden = false;
  }

  async function download(snapshotId) {
    const res = await request("GET", `${vaultPath()}/snapshots/${encodeURIComponent(snapshotId)}`);
    if (!res.ok) {
      $("snapshot-message").textContent = `Download failed (${res.status}).`;
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${snapshotId}.crdt.bin.gz`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // "3 min ago": the device table's times, relative to this browser's clock.
  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  // The device ledger: one row a device, what it holds in words.
  async function loadDevices() {
    const res = await request("GET", `${vaultPath()}/devices`);
    const body = res.ok ? await res.json() : null;
    const list = (body && body.devices) || [];
    $("devices-section").hidden = list.length === 0;
    const rows = $("devices").tBodies[0];
    rows.replaceChildren();
    for (const d of list) {
      const row = document.createElement("tr");
      cell(row, d.device);
      let state;
      if (d.connected) state = d.upToDate ? "connected, up to date" : "connected, syncing";
      else if (d.unacknowledgedAtClose) state = `left ${ago(d.lastSeenAt)} with edits the server had not stored; they are sent again when it reconnects`;
      else if (d.upToDate) state = "up to date";
      else if (d.missingNotes === null || d.missingNotes === undefined) state = `missing changes made since ${ago(d.lastSyncAt)}`;
      else {
        const named = (d.missingPaths || []).join(", ");
        const more = d.missingNotes > (d.missingPaths || []).length ? ", …" : "";
        state = `missing ${d.missingNotes} note(s) changed since ${ago(d.lastSyncAt)}${named ? `: ${named}${more}` : ""}`;
      }
      cell(row, state).className = d.upToDate ? "good" : "bad";
      cell(row, d.connected ? "now" : ago(d.lastSeenAt));
      cell(row, d.lastAckAt ? ago(d.lastAckAt) : "—");
      rows.append(row);
    }
  }

  async function loadSnapshots() {
    const section = $("snapshots-section");
    let caps;
    try {
      caps = await (await fetch("/api/capabilities", { cache: "no-store" })).json();
    } catch {
      section.hidden = true;
      return;
    }
    section.hidden = !caps.snapshots;
    if (!caps.snapshots) return;
    const res = await request("GET", `${vaultPath()}/snapshots?limit=50`);
    const body = res.ok ? await res.json() : null;
    const list = Array.isArray(body) ? body : (body && body.snapshots) || [];
    const rows = $("snapshots").tBodies[0];
    rows.replaceChildren();
    for (const snap of list) {
      const row = document.createElement("tr");
      cell(row, snap.createdAt);
      cell(row, snap.reason);
      cell(row, `${show(snap.markdownFileCount)} notes, ${show(snap.blobFileCount)} attachments${snap.pinned ? ", pinned" : ""}`);
      cell(row, mb(snap.crdtSizeBytes));
      row.dataset.snapshotId = snap.snapshotId;
      const actions = document.createElement("td");
      actions.append(
        button("Browse", "ghost browse", () => browseSnapshot(snap.snapshotId)),
        " ",
        button("Download", "ghost", () => download(snap.snapshotId)),
      );
      row.append(actions);
      rows.append(row);
    }
    $("snapshot-message").textContent = res.ok ? `${list.length} snapshot(s)` : `Listing failed (${res.status}).`;
  }

  // Browsing a snapshot: its notes against the vault now, a note's text as
  // of the snapshot, and restoring selected notes after a dry run shows what
  // would change. Paths and texts are the vault's: always text, never markup.
  const MAX_ROWS = 500; // rows drawn at once: a 25,000-note snapshot stays responsive
  const MAX_RESTORE = 100; // paths one restore request may name
  const MAX_FOLDERS = 1000; // folder filter options
  const DEVICE = "status page";
  const browse = { vault: null, id: null, entries: [], selected: new Set(), seq: 0, viewSeq: 0, plan: null, busy: false };
  // A note's state now, in words, and its tone.
  const STATES = {
    changed: ["changed since", "warn"],
    deleted: ["deleted now", "bad"],
    absent: ["absent now", "bad"],
    added: ["added since (not in this snapshot)", "muted"],
    unchanged: ["unchanged", "muted"],
  };
  // What a restore does to a note, in words.
  const ACTIONS = {
    revive: "brought back (deleted now)",
    create: "created (not in the vault now)",
    replace: "text replaced by the snapshot's",
    unchanged: "no change (already the snapshot's text)",
  };

  function button(text, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  // Bytes to the byte below 10 kB (so a small edit shows), then kB / MB.
  function size(bytes) {
    if (bytes === null || bytes === undefined) return "—";
    return bytes < 10_000 ? `${bytes} B` : mb(bytes);
  }

  const snapshotPath = (id) => `${vaultPath()}/snapshots/${encodeURIComponent(id)}`;
  // Each path segment percent-encoded, the slashes kept.
  const notePath = (id, path) => `${snapshotPath(id)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;

  // An error answer in words: the server's own sentence when it sends one.
  async function failure(res, what) {
    const body = await res.json().catch(() => ({}));
    // A restore that failed after its snapshot of the vault as it was.
    const saved = body && body.preRestoreSnapshotId ? ` The vault as it was before is saved as snapshot ${body.preRestoreSnapshotId}.` : "";
    if (body && typeof body.message === "string" && body.message) return `${what}: ${body.message}${saved}`;
    if (res.status === 401) return `${what}: the token was not accepted (401 unauthorized).`;
    if (res.status === 503) return `${what}: snapshots are not available on this server right now (503).`;
    return `${what}: the server answered ${res.status}${body && body.error ? ` (${body.error})` : ""}.`;
  }

  function browseSay(text, isError) {
    const el = $("browse-message");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
    el.dataset.state = isError ? "error" : "ok";
  }

  // The outcome of the last restore: `tone` is "good", "error" or none.
  function result(text, tone) {
    const el = $("restore-result");
    el.textContent = text;
    el.className = tone || "";
    el.dataset.state = tone || "";
  }

  function closeNote() {
    browse.viewSeq++;
    $("note-view").hidden = true;
    $("note-view-text").textContent = "";
  }

  function closeBrowse() {
    browse.seq++;
    browse.vault = null;
    browse.id = null;
    browse.entries = [];
    browse.selected.clear();
    $("browse-section").hidden = true;
    closeNote();
    result("");
  }

  // The snapshot's notes and the vault's added ones, sorted by path.
  function entriesOf(data) {
    const entries = [];
    for (const n of data.notes || []) {
      const state = n.now === "active" ? (n.changed ? "changed" : "unchanged") : n.now === "deleted" ? "deleted" : "absent";
      entries.push({ path: String(n.path), bytes: n.bytes, state, restorable: true });
    }
    for (const path of (data.comparison && data.comparison.added) || []) {
      entries.push({ path: String(path), bytes: null, state: "added", restorable: false });
    }
    for (const e of entries) e.lower = e.path.toLowerCase();
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  function counts(comparison) {
    const c = comparison || {};
    const n = (v) => (Array.isArray(v) ? v.length : typeof v === "number" ? v : null);
    $("count-changed").textContent = show(n(c.changed));
    $("count-deleted").textContent = show(n(c.deleted));
    $("count-added").textContent = show(n(c.added));
    $("count-unchanged").textContent = show(n(c.unchanged));
  }

  // Every folder a listed path is in (nested ones too), with its note count.
  function fillFolders() {
    const select = $("browse-folder");
    const current = select.value;
    const folders = new Map();
    for (const e of browse.entries) {
      for (let i = e.path.indexOf("/"); i !== -1; i = e.path.indexOf("/", i + 1)) {
        const folder = e.path.slice(0, i + 1);
        folders.set(folder, (folders.get(folder) || 0) + 1);
      }
    }
    // Thousands of options make a slow select: then only the upper levels
    // (the path filter reaches deeper).
    let listed = [...folders.keys()];
    for (let depth = 3; listed.length > MAX_FOLDERS && depth > 0; depth--) {
      listed = listed.filter((f) => f.split("/").length - 1 <= depth);
    }
    const options = document.createDocumentFragment();
    const all = document.createElement("option");
    all.value = "";
    all.textContent = "All folders";
    options.append(all);
    for (const folder of listed.sort()) {
      const option = document.createElement("option");
      option.value = folder;
      option.textContent = `${folder} (${folders.get(folder)})`;
      options.append(option);
    }
    select.replaceChildren(options);
    select.value = listed.includes(current) ? current : "";
  }

  function visibleEntries() {
    const folder = $("browse-folder").value;
    const needle = $("browse-search").value.trim().toLowerCase();
    const diffOnly = $("browse-diff-only").checked;
    return browse.entries.filter((e) => (!folder || e.path.startsWith(folder))
      && (!needle || e.lower.includes(needle))
      && (!diffOnly || e.state !== "unchanged"));
  }

  function noteRow(e) {
    const row = document.createElement("tr");
    row.dataset.path = e.path;
    row.dataset.state = e.state;
    const pick = document.createElement("td");
    if (e.restorable) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = browse.selected.has(e.path);
      box.setAttribute("aria-label", `Select ${e.path}`);
      box.addEventListener("change", () => {
        if (box.checked) browse.selected.add(e.path);
        else browse.selected.delete(e.path);
        selectionChanged();
      });
      pick.append(box);
    }
    row.append(pick);
    cell(row, e.path);
    cell(row, size(e.bytes));
    const [words, tone] = STATES[e.state];
    cell(row, words).className = tone;
    const actions = document.createElement("td");
    if (e.restorable) actions.append(button("View", "ghost small view", () => viewNote(e.path)));
    row.append(actions);
    return row;
  }

  // The filtered list, at most MAX_ROWS rows of it.
  function renderNotes() {
    const shown = visibleEntries();
    const rows = document.createDocumentFragment();
    for (const e of shown.slice(0, MAX_ROWS)) rows.append(noteRow(e));
    $("browse-notes").tBodies[0].replaceChildren(rows);
    const more = shown.length - MAX_ROWS;
    $("browse-more").hidden = more <= 0;
    $("browse-more").textContent = more > 0 ? `${more} more — narrow the filter (a folder or part of the path) to see them.` : "";
    const differing = $("browse-diff-only").checked ? " that differ from now" : "";
    $("browse-shown").textContent = browse.entries.length === 0 ? ""
      : shown.length === 0 ? `No notes${differing} match the filter.`
        : `${shown.length} note(s)${differing} match${more > 0 ? `, the first ${MAX_ROWS} shown` : ""}.`;
    selectionChanged();
  }

  function selectionChanged() {
    const n = browse.selected.size;
    const boxes = [...$("browse-notes").tBodies[0].querySelectorAll("input[type=checkbox]")];
    const ticked = boxes.filter((b) => b.checked).length;
    const all = $("browse-all");
    all.disabled = boxes.length === 0;
    all.checked = boxes.length > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
    const unseen = n - ticked;
    let text = n === 0 ? "Select notes to restore them." : `${n} selected${unseen > 0 ? ` (${unseen} not shown by the filter)` : ""}.`;
    if (n > MAX_RESTORE) text += ` At most ${MAX_RESTORE} can be restored at once: unselect some.`;
    $("browse-selected").textContent = text;
    $("restore-selected").disabled = browse.busy || n === 0 || n > MAX_RESTORE;
    $("browse-clear").disabled = n === 0;
  }

  function busy(on) {
    browse.busy = on;
    selectionChanged();
  }

  async function browseSnapshot(snapshotId, keepResult) {
    const seq = ++browse.seq;
    if (browse.id !== snapshotId) {
      browse.selected.clear();
      closeNote();
    }
    if (!keepResult) result("");
    browse.vault = vaultInput.value.trim();
    browse.id = snapshotId;
    $("browse-section").hidden = false;
    $("browse-id").textContent = snapshotId;
    browseSay("Loading the snapshot's notes…");
    if (!keepResult) $("browse-section").scrollIntoView({ block: "start" });
    let data = null;
    let error = null;
    try {
      const res = await request("GET", `${snapshotPath(snapshotId)}/files`);
      if (res.ok) data = await res.json();
      else error = await failure(res, "Could not open this snapshot");
    } catch {
      error = "Could not open this snapshot: the server could not be reached or its answer was not readable.";
    }
    if (seq !== browse.seq) return; // another snapshot was opened (or the panel closed) meanwhile
    browse.entries = data ? entriesOf(data) : [];
    const restorable = new Set(browse.entries.filter((e) => e.restorable).map((e) => e.path));
    for (const path of [...browse.selected]) if (!restorable.has(path)) browse.selected.delete(path);
    counts(data && data.comparison);
    fillFolders();
    renderNotes();
    if (error) browseSay(error, true);
    else browseSay(`${restorable.size} note(s) in this snapshot.`);
  }

  async function viewNote(path) {
    const seq = ++browse.viewSeq;
    const id = browse.id;
    const meta = $("note-view-meta");
    const text = $("note-view-text");
    $("note-view").hidden = false;
    $("note-view-path").textContent = path;
    meta.textContent = "Loading…";
    meta.className = "muted";
    text.textContent = "";
    text.hidden = true;
    let body = null;
    let error = null;
    try {
      const res = await request("GET", notePath(id, path));
      if (res.ok) body = await res.text();
      else error = await failure(res, "Could not read this note");
    } catch {
      error = "Could not read this note: the server could not be reached.";
    }
    if (seq !== browse.viewSeq) return;
    if (error) {
      meta.textContent = error;
      meta.className = "bad";
    } else {
      meta.textContent = `as in snapshot ${id}, ${size(new TextEncoder().encode(body).length)}`;
      text.textContent = body;
      text.hidden = false;
    }
    $("note-view").scrollIntoView({ block: "nearest" });
  }

  function tally(restored) {
    const n = { revive: 0, create: 0, replace: 0, unchanged: 0 };
    for (const r of restored) n[r.action] = (n[r.action] || 0) + 1;
    const parts = [];
    if (n.revive) parts.push(`${n.revive} brought back`);
    if (n.replace) parts.push(`${n.replace} replaced`);
    if (n.create) parts.push(`${n.create} created`);
    return { changing: restored.length - n.unchanged, unchanged: n.unchanged, words: parts.join(", ") };
  }

  // The dry run's answer, in the confirmation dialog.
  function showPlan(id, restored) {
    const t = tally(restored);
    $("restore-summary").textContent = t.changing === 0
      ? `All ${restored.length} selected note(s) already have their text in snapshot ${id}: nothing to restore.`
      : `${t.changing} of the ${restored.length} selected note(s) change to their text in snapshot ${id} (${t.words})${t.unchanged ? `; ${t.unchanged} already match it and stay as they are` : ""}. The vault as it is now is saved as a snapshot first, so this can be undone; devices receive the restored notes when they sync.`;
    const rows = document.createDocumentFragment();
    for (const r of restored) {
      const row = document.createElement("tr");
      row.dataset.path = r.path;
      row.dataset.action = r.action;
      cell(row, r.path);
      cell(row, ACTIONS[r.action] || r.action).className = r.action === "unchanged" ? "muted" : r.action === "replace" ? "warn" : "good";
      cell(row, `${size(r.bytesBefore)} → ${size(r.bytesAfter)}`);
      rows.append(row);
    }
    $("restore-plan").tBodies[0].replaceChildren(rows);
    const confirm = $("restore-confirm");
    confirm.disabled = t.changing === 0;
    confirm.textContent = t.changing === 0 ? "Nothing to restore" : `Restore ${t.changing} note(s)`;
    $("restore-dialog").showModal();
  }

  async function planRestore() {
    const paths = [...browse.selected].sort();
    const id = browse.id;
    if (!id || paths.length === 0 || paths.length > MAX_RESTORE) return;
    busy(true);
    browseSay("Checking what the restore would change…");
    try {
      const res = await request("POST", `${snapshotPath(id)}/restore`, { paths, dryRun: true, device: DEVICE });
      if (!res.ok) {
        browseSay(await failure(res, "Could not check the restore"), true);
        return;
      }
      const plan = await res.json();
      browse.plan = { id, paths };
      browseSay("");
      showPlan(id, plan.restored || []);
    } catch {
      browseSay("Could not check the restore: the server could not be reached or its answer was not readable.", true);
    } finally {
      busy(false);
    }
  }

  async function runRestore() {
    const plan = browse.plan;
    browse.plan = null;
    $("restore-dialog").close();
    if (!plan) return;
    busy(true);
    result(`Restoring ${plan.paths.length} note(s)…`);
    let out = null;
    try {
      const res = await request("POST", `${snapshotPath(plan.id)}/restore`, { paths: plan.paths, dryRun: false, device: DEVICE });
      if (res.ok) out = await res.json();
      else result(await failure(res, "The restore failed"), "error");
    } catch {
      result("The restore's answer did not arrive: it may or may not have happened. Browse the snapshot again to see.", "error");
    } finally {
      busy(false);
    }
    $("restore-result").scrollIntoView({ block: "nearest" });
    if (!out) return;
    const t = tally(out.restored || []);
    const saved = out.preRestoreSnapshotId
      ? ` The vault as it was just before is saved as snapshot ${out.preRestoreSnapshotId}: browse it to undo.` : "";
    result(t.changing === 0
      ? "Nothing needed restoring: the notes already had the snapshot's text."
      : `Restored ${t.changing} note(s) from snapshot ${plan.id} (${t.words}).${saved}`, "good");
    browse.selected.clear();
    await loadSnapshots();
    if (browse.id === plan.id) await browseSnapshot(plan.id, true);
    $("restore-result").scrollIntoView({ block: "nearest" });
  }

  async function load() {
    const vault = vaultInput.value.trim();
    if (!vault || !tokenInput.value) {
      say("Enter the vault ID and the token.", true);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    sessionStorage.setItem(VAULT_KEY, vault);
    if (browse.vault !== vault) closeBrowse();
    say("Loading…");
    let res;
    try {
      res = await request("GET", `${vaultPath()}/debug/recent`);
    } catch {
      report.hidden = true;
      say("Could not reach the server (network error). Check the connection and try again.", true);
      return;
    }
    if (!res.ok) {
      report.hidden = true;
      const body = await res.json().catch(() => ({}));
      if (res.status === 401) say("The token was not accepted (401 unauthorized).", true);
      else if (res.status === 503 && body.error === "unclaimed") say("This server has not been claimed yet (503 unclaimed): open its home page to claim it.", true);
      else if (res.status === 404) say("There is no such vault route (404): check the vault ID.", true);
      else say(`The server answered ${res.status}${body.error ? ` (${body.error})` : ""}.`, true);
      return;
    }
    const debug = await res.json();
    render(debug);
    const unknown = !debug.documentLoaded && (debug.recent || []).length === 0;
    // The ledger loads the vault's room: never for an unknown (mistyped) ID.
    if (unknown) $("devices-section").hidden = true;
    else await loadDevices();
    say(unknown
      ? "Unknown vault: nothing is stored or loaded under this ID (never synced, or mistyped)."
      : `Vault ${vault}: ${debug.persistence && debug.persistence.status}.`, unknown);
    await loadSnapshots();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("refresh").addEventListener("click", load);
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenInput.value = "";
    say("The token was removed from this tab.");
  });
  $("take-snapshot").addEventListener("click", async () => {
    const button = $("take-snapshot");
    button.disabled = true;
    $("snapshot-message").textContent = "Taking a snapshot…";
    try {
      const res = await request("POST", `${vaultPath()}/snapshots`);
      const body = await res.json().catch(() => ({}));
      await loadSnapshots();
      $("snapshot-message").textContent = res.ok ? `Snapshot ${show(body.snapshotId)}: ${show(body.status)}` : `Snapshot failed (${res.status}).`;
    } finally {
      button.disabled = false;
    }
  });
  $("browse-folder").addEventListener("change", renderNotes);
  $("browse-search").addEventListener("input", renderNotes);
  $("browse-diff-only").addEventListener("change", renderNotes);
  $("browse-all").addEventListener("change", () => {
    const on = $("browse-all").checked;
    for (const box of $("browse-notes").tBodies[0].querySelectorAll("input[type=checkbox]")) {
      box.checked = on;
      const path = box.closest("tr").dataset.path;
      if (on) browse.selected.add(path);
      else browse.selected.delete(path);
    }
    selectionChanged();
  });
  $("browse-clear").addEventListener("click", () => {
    browse.selected.clear();
    renderNotes();
  });
  $("browse-close").addEventListener("click", closeBrowse);
  $("note-view-close").addEventListener("click", closeNote);
  $("restore-selected").addEventListener("click", planRestore);
  $("restore-confirm").addEventListener("click", runRestore);
  $("restore-cancel").addEventListener("click", () => {
    browse.plan = null;
    $("restore-dialog").close();
  });
  $("restore-dialog").addEventListener("cancel", () => { browse.plan = null; });
  if (vaultInput.value && tokenInput.value) load();
})();
