// The edge: claiming, tickets, WebSocket admission and its rejection
// protocol, the schema gate, update metadata, junk paths that must never wake
// a vault object, and secrets that must never reach the logs (spec 3-7).
//
// Three servers: `main` starts unclaimed and is claimed by a test here;
// `ttl` (env mode) issues one-second tickets; `legacy` (env mode) refuses
// long-lived tokens on the socket. Tests run in file order and build on each
// other's state (unclaimed, then claimed, then metadata...).
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { startServer } from "./harness.mjs";
import { assertCors, assertNoCors } from "./http.mjs";
import { connectClient, addNote, noteText, docUntil, echoCount, until } from "./clients.mjs";

const CLAIM_TOKEN = "c1a1m70ken0123456789abcdef0123456789abcdef0123456789abcdef012345"; // 64 chars, like the page's
const CLAIM_HASH = createHash("sha256").update(CLAIM_TOKEN, "utf8").digest("hex");
const CLAIM_VAULT = "claimed-vault-0001";
const TTL_TOKEN = "e2e-ttl-env-token-0123456789abcdef";
const LEGACY_TOKEN = "e2e-legacy-off-token-0123456789abcdef";
/** Every ticket any test obtained: none may appear in a server's output. */
const tickets = [];

let main, ttl, legacy;
before(async () => {
  [main, ttl, legacy] = await Promise.all([
    startServer(),
    startServer({ vars: { SYNC_TOKEN: TTL_TOKEN, YAOS_TICKET_TTL_MS: "1000" } }),
    startServer({ vars: { SYNC_TOKEN: LEGACY_TOKEN, YAOS_DISABLE_LEGACY_WS_TOKEN: "1" } }),
  ]);
});

// Each test's providers are closed (disconnected and destroyed) after it.
const clients = [];
afterEach(() => { for (const c of clients.splice(0)) c.close(); });
after(async () => { await Promise.all([main?.stop(), ttl?.stop(), legacy?.stop()]); });


const bearer = (token) => ({ Authorization: `Bearer ${token}` });
const vaultPath = (vault, rest) => `/vault/${encodeURIComponent(vault)}/${rest}`;
const syncPath = (vault) => `/vault/sync/${encodeURIComponent(vault)}`;

async function json(res) {
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
  return res.json();
}

async function capabilities(server, token) {
  const res = await fetch(`${server.url}/api/capabilities`, { headers: token ? bearer(token) : {} });
  assert.equal(res.status, 200);
  assertCors(res);
  return json(res);
}

async function ticketFor(server, vault, token) {
  const res = await fetch(`${server.url}${vaultPath(vault, "auth/ticket")}`, { method: "POST", headers: bearer(token) });
  assert.equal(res.status, 200, `ticket for ${vault}`);
  assertCors(res);
  const body = await json(res);
  tickets.push(body.ticket);
  return body;
}

function client(server, vault, opts) {
  const c = connectClient(server, vault, opts);
  clients.push(c);
  return c;
}

/**
 * A provider that the server must refuse. Resolves with the first `__YPS:`
 * error it received and the close event of that socket, then disconnects the
 * provider, as the plugin does on a fatal error (so it does not reconnect).
 */
async function providerRefusal(server, vault, opts) {
  const c = client(server, vault, opts);
  const closes = [];
  c.provider.on("connection-close", (event) => closes.push({ code: event.code, reason: String(event.reason) }));
  await until(c.provider, "custom-message", () => c.customMessages.length > 0, 15000, "__YPS: error");
  await until(c.provider, "connection-close", () => closes.length > 0, 15000, "close after the error");
  c.provider.disconnect();
  assert.equal(c.provider.synced, false, "a refused provider never syncs");
  assert.equal(c.provider.wsconnected, false);
  return { message: JSON.parse(c.customMessages[0]), close: closes[0] };
}

/**
 * A raw `ws` socket: every frame in arrival order (text as strings, binary
 * as Buffers), the upgrade status and the close code and reason.
 */
function rawSocket(url, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const frames = [];
    let status = null;
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no close from ${url}`)); }, 15000);
    ws.on("upgrade", (res) => { status = res.statusCode; });
    ws.on("message", (data, isBinary) => frames.push(isBinary ? data : data.toString()));
    ws.on("close", (code, reason) => { clearTimeout(timer); resolve({ status, frames, code, reason: reason.toString() }); });
    ws.on("error", (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Asserts the spec 5.7 WebSocket rejection: JSON frame, `__YPS:` frame, close 1008. */
function assertRawRefusal(raw, errorJson, closeReason) {
  assert.equal(raw.status, 101);
  assert.deepEqual(raw.frames, [errorJson, `__YPS:${errorJson}`], "plain JSON first, then the __YPS: copy");
  assert.equal(raw.code, 1008);
  assert.equal(raw.reason, closeReason);
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");
function decodeTicket(ticket) {
  const dot = ticket.indexOf(".");
  return { encoded: ticket.slice(0, dot), signature: ticket.slice(dot + 1), payloadJson: Buffer.from(ticket.slice(0, dot), "base64url").toString("utf8") };
}
/** The ticket key the server derives from its secret (src/edge/ticket_key.rs), by Node's own PBKDF2. */
const ticketKey = (secret) => pbkdf2Sync(secret, "yaos-server ticket key v1", 4096, 32, "sha256");
function signTicket(payload, key) {
  const encoded = b64url(JSON.stringify(payload));
  return `${encoded}.${b64url(createHmac("sha256", key).update(encoded, "ascii").digest())}`;
}

/**
 * A ticket as the TypeScript server signs it, written from spec 5.5 alone:
 * payload keys in spec order, HMAC-SHA256 keyed by the secret itself (the
 * trimmed SYNC_TOKEN, or the stored hex tokenHash string) over the ASCII of
 * the unpadded base64url payload.
 */
function typescriptTicket(secret, vaultId, { iat = Date.now(), ttlMs = 300000 } = {}) {
  const payload = { v: 1, aud: "yaos-ws", vaultId, iat, exp: iat + ttlMs, nonce: randomBytes(16).toString("base64url") };
  const encoded = Buffer.from(JSON.stringify(payload), "utf8").toString("base64url");
  const ticket = `${encoded}.${createHmac("sha256", secret).update(encoded, "ascii").digest("base64url")}`;
  tickets.push(ticket);
  return ticket;
}

/** Opens a raw `ws` socket and resolves with the first binary frame once it is a SyncStep1 (outer 0, inner 0). */
function firstSyncStep1(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no SyncStep1 from ${url}`)); }, 15000);
    ws.on("message", (data, isBinary) => {
      if (!isBinary || data[0] !== 0 || data[1] !== 0) return;
      clearTimeout(timer);
      ws.close();
      resolve(data);
    });
    ws.on("close", (code, reason) => { clearTimeout(timer); reject(new Error(`closed ${code} ${reason} before SyncStep1`)); });
    ws.on("error", (err) => { clearTimeout(timer); reject(err); });
  });
}

// ---------------------------------------------------------------- unclaimed

test("unclaimed: capabilities say claimed false, authMode unclaimed, no update fields", async () => {
  const body = await capabilities(main);
  assert.equal(body.claimed, false);
  assert.equal(body.authMode, "unclaimed");
  assert.equal(body.updateProvider, null);
  assert.equal(body.updateRepoUrl, null);
  assert.equal(body.updateRepoBranch, null);
});

test("unclaimed: every vault route and update-metadata answer 503 unclaimed with CORS", async () => {
  for (const [method, path] of [
    ["POST", vaultPath("some-vault", "auth/ticket")],
    ["GET", vaultPath("some-vault", "debug/recent")],
    ["POST", vaultPath("some-vault", "debug/compact")],
    ["GET", vaultPath("some-vault", "snapshots")],
    ["PUT", vaultPath("some-vault", "blobs/abc")],
    ["POST", "/api/update-metadata"],
  ]) {
    const res = await fetch(`${main.url}${path}`, { method, headers: bearer("anything-at-all-0123456789abcdef"), body: method === "GET" ? undefined : "{}" });
    assert.equal(res.status, 503, `${method} ${path}`);
    assertCors(res);
    assert.deepEqual(await json(res), { error: "unclaimed" }, `${method} ${path}`);
  }
});

test("unclaimed: the sync socket is refused with the 1008 protocol (server unclaimed)", async () => {
  const expected = '{"type":"error","code":"unclaimed"}';
  const raw = await rawSocket(`${main.wsUrl}${syncPath("some-vault")}?schemaVersion=3&token=whatever`);
  assertRawRefusal(raw, expected, "server unclaimed");
  const { message, close } = await providerRefusal(main, "some-vault", { token: "whatever" });
  assert.deepEqual(message, { type: "error", code: "unclaimed" });
  assert.deepEqual(close, { code: 1008, reason: "server unclaimed" });
  // Not a WebSocket: plain JSON 503 with CORS.
  const res = await fetch(`${main.url}${syncPath("some-vault")}?schemaVersion=3`);
  assert.equal(res.status, 503);
  assertCors(res);
  assert.deepEqual(await json(res), { error: "unclaimed" });
});

// -------------------------------------------------------------------- claim

async function claim(body, raw = false) {
  return fetch(`${main.url}/claim`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: raw ? body : JSON.stringify(body),
  });
}

test("POST /claim rejects invalid json, a short token and a short vaultId with 400 (no CORS)", async () => {
  for (const [body, raw, error] of [
    ["{not json", true, "invalid json"],
    ["", true, "invalid json"],
    [{ token: "x".repeat(31), vaultId: CLAIM_VAULT }, false, "invalid token"],
    [{ token: `   ${"x".repeat(31)}   ` }, false, "invalid token"],
    [{ token: 12345678901234567890123456789012345 }, false, "invalid token"],
    [{ vaultId: CLAIM_VAULT }, false, "invalid token"],
    [{ token: CLAIM_TOKEN, vaultId: "short" }, false, "invalid vaultId"],
    [{ token: CLAIM_TOKEN, vaultId: "  1234567  " }, false, "invalid vaultId"],
    [{ token: CLAIM_TOKEN, vaultId: 123456789 }, false, "invalid vaultId"],
  ]) {
    const res = await claim(body, raw);
    assert.equal(res.status, 400, JSON.stringify(body));
    assertNoCors(res);
    assert.deepEqual(await json(res), { error }, JSON.stringify(body));
  }
  // None of them claimed the server.
  assert.equal((await capabilities(main)).claimed, false);
});

test("a valid claim answers 200 with the obsidian setup URL, claim capabilities and a QR SVG", async () => {
  const res = await claim({ token: CLAIM_TOKEN, vaultId: CLAIM_VAULT });
  assert.equal(res.status, 200);
  assertNoCors(res);
  const body = await json(res);
  assert.deepEqual(Object.keys(body), ["ok", "host", "obsidianUrl", "capabilities", "setupQrSvg"]);
  assert.equal(body.ok, true);
  assert.equal(body.host, main.url);
  const expectedUrl = "obsidian://yaos?" + new URLSearchParams({ action: "setup", host: main.url, token: CLAIM_TOKEN, vaultId: CLAIM_VAULT });
  assert.equal(body.obsidianUrl, expectedUrl);
  assert.ok(body.obsidianUrl.startsWith(`obsidian://yaos?action=setup&host=${encodeURIComponent(main.url)}&token=${CLAIM_TOKEN}&vaultId=${CLAIM_VAULT}`));
  assert.equal(body.capabilities.claimed, true);
  assert.equal(body.capabilities.authMode, "claim");
  assert.equal(body.capabilities.updateProvider, null);
  assert.match(body.setupQrSvg, /^<svg [\s\S]*<\/svg>$/);
});

test("after the claim: the same claim again succeeds (a lost answer can be retried), any other is 403 already_claimed", async () => {
  const caps = await capabilities(main);
  assert.equal(caps.claimed, true);
  assert.equal(caps.authMode, "claim");
  const again = await claim({ token: CLAIM_TOKEN, vaultId: CLAIM_VAULT });
  assert.equal(again.status, 200);
  const body = await json(again);
  assert.equal(body.ok, true);
  assert.equal(body.obsidianUrl, "obsidian://yaos?" + new URLSearchParams({ action: "setup", host: main.url, token: CLAIM_TOKEN, vaultId: CLAIM_VAULT }));
  for (const body of [
    { token: "another-token-0123456789abcdef0123456789", vaultId: "another-vault" },
    { token: `${CLAIM_TOKEN}x`, vaultId: CLAIM_VAULT },
    { token: "short" }, // already claimed wins over validation
  ]) {
    const res = await claim(body);
    assert.equal(res.status, 403);
    assertNoCors(res);
    assert.deepEqual(await json(res), { error: "already_claimed" });
  }
  // The original token still works, the intruder's does not.
  const ok = await fetch(`${main.url}${vaultPath(CLAIM_VAULT, "auth/ticket")}`, { method: "POST", headers: bearer(CLAIM_TOKEN) });
  assert.equal(ok.status, 200);
  tickets.push((await ok.json()).ticket);
  const denied = await fetch(`${main.url}${vaultPath(CLAIM_VAULT, "auth/ticket")}`, { method: "POST", headers: bearer("another-token-0123456789abcdef0123456789") });
  assert.equal(denied.status, 401);
  assertCors(denied);
  assert.deepEqual(await json(denied), { error: "unauthorized" });
});

test("vault routes: a missing, malformed or wrong Bearer token is 401 unauthorized with CORS", async () => {
  for (const headers of [{}, { Authorization: CLAIM_TOKEN }, { Authorization: `bearer ${CLAIM_TOKEN}` }, { Authorization: "Bearer " }, bearer(CLAIM_HASH)]) {
    const res = await fetch(`${main.url}${vaultPath(CLAIM_VAULT, "auth/ticket")}`, { method: "POST", headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assertCors(res);
    assert.deepEqual(await json(res), { error: "unauthorized" });
  }
});

// ------------------------------------------------------------------ tickets

test("a ticket has the spec 5.5 shape, is signed with the token hash, and opens a syncing provider", async () => {
  const vault = "ticket vault/é";
  const before = Date.now();
  const answer = await ticketFor(main, vault, CLAIM_TOKEN);
  assert.deepEqual(Object.keys(answer), ["ticket", "expiresAt", "ttlMs"]);
  assert.equal(typeof answer.ticket, "string");
  assert.equal(typeof answer.expiresAt, "number");
  assert.equal(typeof answer.ttlMs, "number");
  assert.equal(answer.ttlMs, 300000);

  const { encoded, signature, payloadJson } = decodeTicket(answer.ticket);
  assert.match(encoded, /^[A-Za-z0-9_-]+$/);
  assert.match(signature, /^[A-Za-z0-9_-]{43}$/);
  const payload = JSON.parse(payloadJson);
  assert.deepEqual(Object.keys(payload), ["v", "aud", "vaultId", "iat", "exp", "nonce"]);
  assert.equal(payload.v, 1);
  assert.equal(payload.aud, "yaos-ws");
  assert.equal(payload.vaultId, vault, "the decoded path vaultId");
  assert.ok(payload.iat >= before - 1000 && payload.iat <= Date.now() + 1000, "iat is now");
  assert.equal(payload.exp, payload.iat + answer.ttlMs);
  assert.equal(answer.expiresAt, payload.exp);
  assert.match(payload.nonce, /^[A-Za-z0-9_-]{22}$/);
  // Claim mode: the HMAC key is derived from the stored hex token hash, over the encoded payload.
  assert.equal(signature, b64url(createHmac("sha256", ticketKey(CLAIM_HASH)).update(encoded, "ascii").digest()));
  assert.notEqual(signature, b64url(createHmac("sha256", CLAIM_HASH).update(encoded, "ascii").digest()), "not the hash itself");
  // Fresh nonces.
  const second = await ticketFor(main, vault, CLAIM_TOKEN);
  assert.notEqual(JSON.parse(decodeTicket(second.ticket).payloadJson).nonce, payload.nonce);

  const a = client(main, vault, { ticket: answer.ticket });
  const b = client(main, vault, { ticket: second.ticket });
  await Promise.all([a.synced(), b.synced()]);
  assert.equal(a.provider.synced, true);
  const idA = addNote(a.doc, "from-a.md", "written by a");
  const idB = addNote(b.doc, "from-b.md", "written by b");
  await docUntil(b.doc, (d) => noteText(d, idA) === "written by a", 15000, "b gets a's note");
  await docUntil(a.doc, (d) => noteText(d, idB) === "written by b", 15000, "a gets b's note");
  // Tickets are reusable until they expire (no nonce tracking).
  const again = client(main, vault, { ticket: answer.ticket });
  await again.synced();
  assert.equal(noteText(again.doc, idA), "written by a");
});

test("a ticket signed with the key derived from the stored hash is accepted; one keyed by the raw token is not", async () => {
  const vault = "self-signed-vault";
  const now = Date.now();
  const payload = { v: 1, aud: "yaos-ws", vaultId: vault, iat: now, exp: now + 60000, nonce: b64url(Buffer.alloc(16, 7)) };
  const good = signTicket(payload, ticketKey(CLAIM_HASH));
  tickets.push(good);
  const ok = client(main, vault, { ticket: good });
  await ok.synced();
  // The hash itself is the TypeScript server's key, accepted too (see the
  // ticket-compat tests below); the raw token is no key in claim mode.
  const wrongKey = signTicket(payload, CLAIM_TOKEN);
  tickets.push(wrongKey);
  const { message, close } = await providerRefusal(main, vault, { ticket: wrongKey });
  assert.deepEqual(message, { type: "error", code: "unauthorized" });
  assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
});

test("a ticket for another vault is refused: __YPS: unauthorized, close 1008", async () => {
  const { ticket } = await ticketFor(main, "vault-one", CLAIM_TOKEN);
  const { message, close } = await providerRefusal(main, "vault-two", { ticket });
  assert.deepEqual(message, { type: "error", code: "unauthorized" });
  assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
  const raw = await rawSocket(`${main.wsUrl}${syncPath("vault-two")}?schemaVersion=3&ticket=${encodeURIComponent(ticket)}`);
  assertRawRefusal(raw, '{"type":"error","code":"unauthorized"}', "unauthorized");
});

test("tampered tickets are refused, and a present ticket never falls back to the token", async () => {
  const vault = "tamper-vault";
  const { ticket } = await ticketFor(main, vault, CLAIM_TOKEN);
  const { encoded, signature, payloadJson } = decodeTicket(ticket);
  const payload = JSON.parse(payloadJson);
  const flip = (s, i) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
  const extended = b64url(JSON.stringify({ ...payload, exp: payload.exp + 3_600_000 }));
  const otherVault = b64url(JSON.stringify({ ...payload, vaultId: "other" }));
  const tampered = [
    `${encoded}.${flip(signature, 0)}`,       // signature changed
    `${flip(encoded, 5)}.${signature}`,       // payload changed
    `${extended}.${signature}`,               // a longer life under the old signature
    `${otherVault}.${signature}`,             // (also wrong vault)
    `${encoded}.${signature}=`,               // not strict base64url
    `${encoded}`,                             // no signature
    `.${signature}`,                          // no payload
    "",                                       // present but empty
  ];
  for (const bad of tampered) {
    tickets.push(bad);
    const raw = await rawSocket(`${main.wsUrl}${syncPath(vault)}?schemaVersion=3&ticket=${encodeURIComponent(bad)}&token=${CLAIM_TOKEN}`);
    assertRawRefusal(raw, '{"type":"error","code":"unauthorized"}', "unauthorized");
  }
  const { message, close } = await providerRefusal(main, vault, { ticket: `${encoded}.${flip(signature, 0)}` });
  assert.deepEqual(message, { type: "error", code: "unauthorized" });
  assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
});

test("an expired ticket is refused (YAOS_TICKET_TTL_MS=1000): JSON frame, __YPS: frame, close 1008", async () => {
  const vault = "ttl-vault";
  const answer = await ticketFor(ttl, vault, TTL_TOKEN);
  assert.equal(answer.ttlMs, 1000);
  const payload = JSON.parse(decodeTicket(answer.ticket).payloadJson);
  assert.equal(payload.exp - payload.iat, 1000);
  // Env mode: the key is derived from the token, not the token itself.
  assert.equal(decodeTicket(answer.ticket).signature, b64url(createHmac("sha256", ticketKey(TTL_TOKEN)).update(decodeTicket(answer.ticket).encoded, "ascii").digest()));

  // Fresh, the same kind of ticket works (so the refusal below is the expiry).
  const fresh = await ticketFor(ttl, vault, TTL_TOKEN);
  const ok = client(ttl, vault, { ticket: fresh.ticket });
  await ok.synced();
  ok.close();

  // The expiry is a point in time: wait for it (bounded: 1 s plus a margin).
  const wait = answer.expiresAt + 100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const raw = await rawSocket(`${ttl.wsUrl}${syncPath(vault)}?schemaVersion=3&ticket=${encodeURIComponent(answer.ticket)}`);
  assertRawRefusal(raw, '{"type":"error","code":"unauthorized"}', "unauthorized");
  const { message, close } = await providerRefusal(ttl, vault, { ticket: answer.ticket });
  assert.deepEqual(message, { type: "error", code: "unauthorized" });
  assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
  // Non-WebSocket: 401 JSON with CORS.
  const res = await fetch(`${ttl.url}${syncPath(vault)}?ticket=${encodeURIComponent(answer.ticket)}`);
  assert.equal(res.status, 401);
  assertCors(res);
  assert.deepEqual(await json(res), { error: "unauthorized" });
});

// ------------------------------------- tickets the TypeScript server issued

// After `wrangler deploy` over a TypeScript deployment, a device reconnects
// with the ticket that server issued (up to 5 minutes old). Those tickets are
// accepted until they expire; wrong keys and expired ones are still refused.
async function assertTypescriptTicketCompat(server, { token, secret, wrongSecret, vault }) {
  const good = typescriptTicket(secret, vault);
  const step1 = await firstSyncStep1(`${server.wsUrl}${syncPath(vault)}?schemaVersion=3&ticket=${encodeURIComponent(good)}`);
  assert.ok(step1.length >= 3, "a SyncStep1 with a state vector");
  const a = client(server, vault, { ticket: good });
  const b = client(server, vault, { ticket: (await ticketFor(server, vault, token)).ticket });
  await Promise.all([a.synced(), b.synced()]);
  const id = addNote(a.doc, "from-ts-ticket.md", "via a TypeScript ticket");
  await docUntil(b.doc, (d) => noteText(d, id) === "via a TypeScript ticket", 15000, "b gets the note");

  const expired = typescriptTicket(secret, vault, { iat: Date.now() - 301_000 });
  const forged = typescriptTicket(wrongSecret, vault);
  const otherVault = typescriptTicket(secret, `${vault}-other`);
  for (const bad of [expired, forged, otherVault]) {
    const raw = await rawSocket(`${server.wsUrl}${syncPath(vault)}?schemaVersion=3&ticket=${encodeURIComponent(bad)}`);
    assertRawRefusal(raw, '{"type":"error","code":"unauthorized"}', "unauthorized");
  }
  for (const bad of [expired, forged]) {
    const { message, close } = await providerRefusal(server, vault, { ticket: bad });
    assert.deepEqual(message, { type: "error", code: "unauthorized" });
    assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
  }
}

test("env mode: a ticket signed the TypeScript way (key = SYNC_TOKEN) syncs until it expires; wrong-key and expired ones get 1008", async () => {
  await assertTypescriptTicketCompat(ttl, { token: TTL_TOKEN, secret: TTL_TOKEN, wrongSecret: LEGACY_TOKEN, vault: "ts-ticket-env-vault" });
});

test("claim mode: a ticket signed the TypeScript way (key = the stored hex tokenHash) syncs; wrong-key and expired ones get 1008", async () => {
  // This ticket opening a socket shows the server stores the same tokenHash
  // string the TypeScript server held: lowercase hex SHA-256 of the token.
  assert.match(CLAIM_HASH, /^[0-9a-f]{64}$/);
  await assertTypescriptTicketCompat(main, { token: CLAIM_TOKEN, secret: CLAIM_HASH, wrongSecret: CLAIM_TOKEN, vault: "ts-ticket-claim-vault" });
});

test("YAOS_DISABLE_LEGACY_WS_TOKEN: ?token= and a Bearer header are refused on the socket, a ticket is accepted", async () => {
  const vault = "legacy-off-vault";
  const { message, close } = await providerRefusal(legacy, vault, { token: LEGACY_TOKEN });
  assert.deepEqual(message, { type: "error", code: "unauthorized" });
  assert.deepEqual(close, { code: 1008, reason: "unauthorized" });
  const viaQuery = await rawSocket(`${legacy.wsUrl}${syncPath(vault)}?schemaVersion=3&token=${LEGACY_TOKEN}`);
  assertRawRefusal(viaQuery, '{"type":"error","code":"unauthorized"}', "unauthorized");
  const viaHeader = await rawSocket(`${legacy.wsUrl}${syncPath(vault)}?schemaVersion=3`, { headers: bearer(LEGACY_TOKEN) });
  assertRawRefusal(viaHeader, '{"type":"error","code":"unauthorized"}', "unauthorized");

  const { ticket } = await ticketFor(legacy, vault, LEGACY_TOKEN);
  const a = client(legacy, vault, { ticket });
  await a.synced();
  const id = addNote(a.doc, "legacy.md", "ticket only");
  await echoCount(a, 2);
  const b = client(legacy, vault, { ticket });
  await b.synced();
  assert.equal(noteText(b.doc, id), "ticket only");
});

test("the legacy ?token= still works where it is not disabled (claim mode)", async () => {
  const c = client(main, "legacy-on-vault", { token: CLAIM_TOKEN });
  await c.synced();
  assert.equal(c.provider.synced, true);
});

// ------------------------------------------------------------- schema gate

test("schema gate: a client older than the room gets update_required with details", async () => {
  const vault = "schema-gate-vault";
  const writer = client(main, vault, { token: CLAIM_TOKEN, schemaVersion: "3" });
  await writer.synced();
  addNote(writer.doc, "v3.md", "schema three"); // sets sys.schemaVersion = 3
  await echoCount(writer, 2); // the edit is durable once echoed
  writer.close();

  const details = { type: "error", code: "update_required", reason: "client_schema_older_than_room", clientSchemaVersion: 2, roomSchemaVersion: 3 };
  const { message, close } = await providerRefusal(main, vault, { ticket: (await ticketFor(main, vault, CLAIM_TOKEN)).ticket, schemaVersion: "2" });
  assert.deepEqual(message, details);
  assert.deepEqual(Object.keys(message), Object.keys(details), "key order");
  assert.deepEqual(close, { code: 1008, reason: "update required" });
  const raw = await rawSocket(`${main.wsUrl}${syncPath(vault)}?schemaVersion=2&token=${CLAIM_TOKEN}`);
  assertRawRefusal(raw, JSON.stringify(details), "update required");
  // The object checks the schema the Worker admitted: a client's own
  // x-yaos-client-schema header is dropped, not trusted.
  const forged = await rawSocket(`${main.wsUrl}${syncPath(vault)}?schemaVersion=2&token=${CLAIM_TOKEN}`, { headers: { "x-yaos-client-schema": "99" } });
  assertRawRefusal(forged, JSON.stringify(details), "update required");
  // No schema at all is the legacy 1: also older.
  const legacyClient = await rawSocket(`${main.wsUrl}${syncPath(vault)}?token=${CLAIM_TOKEN}`);
  assertRawRefusal(legacyClient, JSON.stringify({ ...details, clientSchemaVersion: 1 }), "update required");

  // Not a WebSocket: 426 {"error":"update_required"} with CORS, no details.
  const res = await fetch(`${main.url}${syncPath(vault)}?schemaVersion=2`, { headers: bearer(CLAIM_TOKEN) });
  assert.equal(res.status, 426);
  assertCors(res);
  assert.deepEqual(await json(res), { error: "update_required" });

  // Equal and newer clients are admitted.
  for (const schemaVersion of ["3", "4"]) {
    const c = client(main, vault, { token: CLAIM_TOKEN, schemaVersion });
    await c.synced();
    assert.equal(noteText(c.doc, "id-v3.md"), "schema three");
  }
});

test("schema gate: an invalid schema gets invalid_client_schema with null versions", async () => {
  const vault = "schema-invalid-vault";
  const details = { type: "error", code: "update_required", reason: "invalid_client_schema", clientSchemaVersion: null, roomSchemaVersion: null };
  const { message, close } = await providerRefusal(main, vault, { token: CLAIM_TOKEN, schemaVersion: "abc" });
  assert.deepEqual(message, details);
  assert.deepEqual(close, { code: 1008, reason: "update required" });
  for (const schema of ["abc", "3.5", "-1"]) {
    const raw = await rawSocket(`${main.wsUrl}${syncPath(vault)}?schemaVersion=${schema}&token=${CLAIM_TOKEN}`);
    assertRawRefusal(raw, JSON.stringify(details), "update required");
  }
  // Auth is checked before the schema.
  const unauth = await rawSocket(`${main.wsUrl}${syncPath(vault)}?schemaVersion=abc&token=wrong-token`);
  assertRawRefusal(unauth, '{"type":"error","code":"unauthorized"}', "unauthorized");
  const res = await fetch(`${main.url}${syncPath(vault)}?schemaVersion=abc&token=${CLAIM_TOKEN}`);
  assert.equal(res.status, 426);
  assertCors(res);
  assert.deepEqual(await json(res), { error: "update_required" });
});

// ----------------------------------------------------------- update metadata

async function updateMetadata(body, token = CLAIM_TOKEN, raw = false) {
  return fetch(`${main.url}/api/update-metadata`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? bearer(token) : {}) },
    body: raw ? body : JSON.stringify(body),
  });
}

test("update metadata: stored, normalized, and shown only to a valid Bearer token", async () => {
  const res = await updateMetadata({ updateProvider: "GitHub", updateRepoUrl: "https://github.com/owner/repo.git", updateRepoBranch: "main" });
  assert.equal(res.status, 200);
  assertCors(res);
  const body = await json(res);
  assert.deepEqual(Object.keys(body), ["ok", "capabilities"]);
  assert.equal(body.ok, true);
  const expected = { updateProvider: "github", updateRepoUrl: "https://github.com/owner/repo", updateRepoBranch: "main" };
  for (const [k, v] of Object.entries(expected)) assert.equal(body.capabilities[k], v, k);
  assert.equal(body.capabilities.authMode, "claim");

  const authed = await capabilities(main, CLAIM_TOKEN);
  for (const [k, v] of Object.entries(expected)) assert.equal(authed[k], v, k);
  for (const token of [undefined, "wrong-token-0123456789abcdef0123456789"]) {
    const anon = await capabilities(main, token);
    assert.equal(anon.claimed, true);
    for (const k of Object.keys(expected)) assert.equal(anon[k], null, `${k} hidden from ${token ?? "no token"}`);
  }
});

test("update metadata: invalid values are 400 and change nothing; a wrong token is 401", async () => {
  const failed = (field) => `update metadata write failed (400): {"error":"invalid ${field}"}`;
  for (const [body, field] of [
    [{ updateProvider: "bitbucket" }, "updateProvider"],
    [{ updateProvider: 7 }, "updateProvider"],
    [{ updateRepoUrl: "ftp://github.com/owner/repo" }, "updateRepoUrl"],
    [{ updateRepoUrl: "https://github.com/only-owner" }, "updateRepoUrl"],
    [{ updateRepoUrl: "not a url" }, "updateRepoUrl"],
    [{ updateRepoBranch: "a..b" }, "updateRepoBranch"],
    [{ updateRepoBranch: "has space" }, "updateRepoBranch"],
    [{ updateRepoBranch: "x".repeat(121) }, "updateRepoBranch"],
    [{ updateProvider: "gitlab", updateRepoBranch: "bad..branch" }, "updateRepoBranch"],
  ]) {
    const res = await updateMetadata(body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assertCors(res);
    const { error } = await json(res);
    assert.ok(error.includes(`invalid ${field}`), error);
    assert.equal(error, failed(field), JSON.stringify(body));
  }
  const bad = await updateMetadata("{nope", CLAIM_TOKEN, true);
  assert.equal(bad.status, 400);
  assertCors(bad);
  assert.deepEqual(await json(bad), { error: "invalid json" });
  for (const token of [null, "wrong-token-0123456789abcdef0123456789"]) {
    const res = await updateMetadata({ updateProvider: "gitlab" }, token);
    assert.equal(res.status, 401);
    assertCors(res);
    assert.deepEqual(await json(res), { error: "unauthorized" });
  }
  // Nothing above changed the stored values (the gitlab+bad-branch write is one transaction).
  const caps = await capabilities(main, CLAIM_TOKEN);
  assert.equal(caps.updateProvider, "github");
  assert.equal(caps.updateRepoUrl, "https://github.com/owner/repo");
  assert.equal(caps.updateRepoBranch, "main");
});

// ---------------------------------------------------------------- junk paths

const vaultObjectsDir = (server) => join(server.persistDir, "v3", "do", "yaos-VaultSyncServer");
const vaultObjectFiles = (server) => readdirSync(vaultObjectsDir(server)).filter((f) => f !== "metadata.sqlite" && !f.startsWith("metadata.sqlite-")).sort();

test("junk paths never create or wake a vault object", async () => {
  const junk = [
    ["GET", "/wp-login.php"],
    ["GET", "/vault/junkvault/admin"],
    ["POST", "/vault/junkvault/debug/recent"],
    ["GET", "/vault/junkvault/auth/random"],
    ["DELETE", "/vault/junkvault/blobs/x"],
    ["GET", "/vault/sync/junkvault/"],
    ["POST", "/vault/junkvault/auth/ticket/extra"],
    ["HEAD", "/vault/junkvault/debug/recent"],
    ["GET", "/vault/junkvault"],
    ["OPTIONS", "/junkvault"],
  ];
  const before = vaultObjectFiles(main);
  // 50 requests, with a valid token: classification happens before auth.
  const requests = [];
  for (let i = 0; i < 50; i++) {
    const [method, path] = junk[i % junk.length];
    requests.push(fetch(`${main.url}${path}`, { method, headers: bearer(CLAIM_TOKEN) }).then(async (res) => {
      assert.equal(res.status, 404, `${method} ${path}`);
      assertCors(res);
      const text = await res.text();
      if (method !== "HEAD") assert.deepEqual(JSON.parse(text), { error: "not found" }, `${method} ${path}`);
    }));
  }
  await Promise.all(requests);
  assert.deepEqual(vaultObjectFiles(main), before, "no vault object storage appeared for junk");

  // The room reports itself never loaded and with no trace.
  const res = await fetch(`${main.url}${vaultPath("junkvault", "debug/recent")}`, { headers: bearer(CLAIM_TOKEN) });
  assert.equal(res.status, 200);
  const debug = await json(res);
  assert.equal(debug.roomId, "junkvault");
  assert.equal(debug.documentLoaded, false);
  assert.deepEqual(debug.recent, []);
  // ...and the file check can fail: that real request did create the object's storage.
  const created = vaultObjectFiles(main).filter((f) => !before.includes(f));
  assert.ok(created.some((f) => f.endsWith(".sqlite")), `a real vault request creates a file (new: ${created.join(", ")})`);
});

// ------------------------------------------------------------------ secrets

test("no token, token hash or ticket ever appears in any server's output", async () => {
  const secrets = [CLAIM_TOKEN, CLAIM_HASH, TTL_TOKEN, LEGACY_TOKEN, ...tickets.filter((t) => t.length >= 16)];
  // Ticket halves too: a log line could carry only the payload or the signature.
  for (const t of tickets) for (const part of t.split(".")) if (part.length >= 16) secrets.push(part);
  assert.ok(tickets.length >= 10, `collected ${tickets.length} tickets`);
  // The scan sees what the worker logs: its own rejection warnings are there.
  assert.ok(main.output.includes("sync socket rejected: unauthorized"), "worker console output is captured");
  assert.ok(legacy.output.includes("sync socket rejected: unauthorized"));
  for (const [name, server] of [["main", main], ["ttl", ttl], ["legacy", legacy]]) {
    assert.ok(server.output.length > 0, `${name} produced output`);
    for (const secret of secrets) {
      assert.ok(!server.output.includes(secret), `${name}'s output contains a secret (${secret.slice(0, 8)}…)`);
    }
  }
});

test("a SYNC_TOKEN under 32 characters works, and is warned about on the home page and in the log (never shown)", async () => {
  const WEAK = "hunter2-is-weak";
  const weak = await startServer({ vars: { SYNC_TOKEN: WEAK } });
  try {
    const home = await fetch(`${weak.url}/`);
    assert.equal(home.status, 200);
    const page = await home.text();
    assert.match(page, /<p id="token-warning" class="warning" role="alert" >SYNC_TOKEN is shorter than 32 characters; use at least 32/);
    assert.ok(!page.includes("15 characters") && !page.includes("has 15"), "the public page never states the token's length");
    assert.ok(!page.includes(WEAK), "the page never shows the token");
    await weak.waitForOutput(/SYNC_TOKEN has 15 characters/);
    assert.ok(!weak.output.includes(WEAK), "the log never shows the token");
    assert.equal((await ticketFor(weak, "weak-vault", WEAK)).ttlMs, 300000, "the token still works");
    // A strong token's home page carries no warning.
    const strong = await (await fetch(`${ttl.url}/`)).text();
    assert.match(strong, /<p id="token-warning" class="warning" role="alert" hidden><\/p>/);
  } finally {
    await weak.stop();
  }
});
