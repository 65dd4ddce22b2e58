// Limits on what a client can repeat (engineering/reliability.md): failed
// token checks from one address are throttled (429 with Retry-After, even
// for the right token, other addresses unaffected), on a claimed server
// repeated claims too (a claim succeeds again only with the winning token,
// so it is a guess), and manual snapshots of one vault are rate-limited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.mjs";
import { assertCors } from "./http.mjs";

const TOKEN = "e2e-abuse-limits-token-0123456789abcdef";
const FAILURES_PER_WINDOW = 30; // edge::auth_throttle::AUTH_FAILURES_PER_WINDOW
const MANUAL_PER_MINUTE = 6; // snapshot::manual_gate::MANUAL_SNAPSHOTS_PER_WINDOW
let server;

before(async () => { server = await startServer({ vars: { SYNC_TOKEN: TOKEN } }); });
after(async () => { await server?.stop(); });

const from = (ip, token) => ({ "CF-Connecting-IP": ip, ...(token ? { Authorization: `Bearer ${token}` } : {}) });

test("wrong tokens from one address are throttled after the limit; other addresses are not", async () => {
  const guesser = "203.0.113.7";
  for (let i = 0; i < FAILURES_PER_WINDOW; i++) {
    const res = await fetch(`${server.url}/vault/v/debug/recent`, { headers: from(guesser, `wrong-${i}-0123456789abcdef0123456789`) });
    assert.equal(res.status, 401, `attempt ${i}`);
    await res.arrayBuffer();
  }
  const blocked = await fetch(`${server.url}/vault/v/debug/recent`, { headers: from(guesser, TOKEN) });
  assert.equal(blocked.status, 429, "even the right token waits");
  assert.deepEqual(await blocked.json(), { error: "too_many_attempts" });
  const wait = Number(blocked.headers.get("Retry-After"));
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  assertCors(blocked);
  const socket = await fetch(`${server.url}/vault/sync/v?token=${TOKEN}&schemaVersion=3`, { headers: from(guesser) });
  assert.equal(socket.status, 429, "sockets too");
  await socket.arrayBuffer();
  const other = await fetch(`${server.url}/vault/v/debug/recent`, { headers: from("198.51.100.9", TOKEN) });
  assert.equal(other.status, 200, "another address is not affected");
  await other.arrayBuffer();
  // A missing credential is no guess: it stays 401, never counted.
  for (let i = 0; i < FAILURES_PER_WINDOW + 5; i++) {
    const res = await fetch(`${server.url}/vault/v/debug/recent`, { headers: from("198.51.100.10") });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
  }
  assert.deepEqual(server.crashLines(), []);
});

test("wrong claims on a claimed server are throttled like wrong tokens: the claim is no token oracle", async () => {
  const claimed = await startServer({ persistDir: tempDir() });
  try {
    const CLAIM_TOKEN = "e2e-abuse-claim-token-0123456789abcdef";
    const claim = (ip, token) => fetch(`${claimed.url}/claim`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
      body: JSON.stringify({ token, vaultId: "abuse-claim-vault" }),
    });
    const first = await claim("198.51.100.20", CLAIM_TOKEN);
    assert.equal(first.status, 200, await first.text());
    const guesser = "203.0.113.8";
    for (let i = 0; i < FAILURES_PER_WINDOW; i++) {
      const res = await claim(guesser, `wrong-claim-${i}-0123456789abcdef0123456789`);
      assert.equal(res.status, 403, `attempt ${i}`);
      assert.deepEqual(await res.json(), { error: "already_claimed" });
    }
    const blocked = await claim(guesser, CLAIM_TOKEN);
    assert.equal(blocked.status, 429, "the winning token from the guessing address waits");
    assert.ok(Number(blocked.headers.get("Retry-After")) >= 1);
    await blocked.arrayBuffer();
    const bearer = await fetch(`${claimed.url}/vault/v/debug/recent`, { headers: from(guesser, CLAIM_TOKEN) });
    assert.equal(bearer.status, 429, "one budget for claims and Bearer tokens");
    await bearer.arrayBuffer();
    const again = await claim("198.51.100.21", CLAIM_TOKEN);
    assert.equal(again.status, 200, "a lost answer can still be retried from another address");
    await again.arrayBuffer();
    assert.deepEqual(claimed.crashLines(), []);
  } finally {
    await claimed.stop();
  }
});

test("manual snapshots of one vault are rate-limited: 429 with Retry-After", async () => {
  const snap = () => fetch(`${server.url}/vault/snap-vault/snapshots`, { method: "POST", headers: from("198.51.100.11", TOKEN), body: JSON.stringify({ device: "x".repeat(10_000) }) });
  for (let i = 0; i < MANUAL_PER_MINUTE; i++) {
    const res = await snap();
    assert.equal(res.status, 200, `snapshot ${i}`);
    const body = await res.json();
    assert.equal(body.status, "created");
    assert.equal(body.index.triggeredBy.length, 64, "the device name is cut");
  }
  const refused = await snap();
  assert.equal(refused.status, 429);
  assert.equal((await refused.json()).error, "too_many_snapshots");
  const wait = Number(refused.headers.get("Retry-After"));
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  assertCors(refused);
});
