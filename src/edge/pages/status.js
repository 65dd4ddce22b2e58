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

  function request(method, path) {
    return fetch(path, {
      method,
      headers: { Authorization: `Bearer ${tokenInput.value}` },
      cache: "no-store",
      body: method === "POST" ? "{}" : undefined,
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
      const link = document.createElement("button");
      link.type = "button";
      link.className = "ghost";
      link.textContent = "Download";
      link.addEventListener("click", () => download(snap.snapshotId));
      const actions = document.createElement("td");
      actions.append(link);
      row.append(actions);
      rows.append(row);
    }
    $("snapshot-message").textContent = res.ok ? `${list.length} snapshot(s)` : `Listing failed (${res.status}).`;
  }

  async function load() {
    const vault = vaultInput.value.trim();
    if (!vault || !tokenInput.value) {
      say("Enter the vault ID and the token.", true);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    sessionStorage.setItem(VAULT_KEY, vault);
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
  if (vaultInput.value && tokenInput.value) load();
})();
