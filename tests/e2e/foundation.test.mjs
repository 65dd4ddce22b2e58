// The foundation: the worker builds, runs under wrangler dev, answers
// capabilities, and turns junk paths away with 404 JSON and CORS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./harness.mjs";
import { assertCors } from "./http.mjs";

let server;
// The text-only shape: no R2 bucket bound.
before(async () => { server = await startServer({ bucket: false }); });
after(async () => { await server?.stop(); });


test("GET /api/capabilities answers the spec 6.3 JSON with schema 3/3", async () => {
  const res = await fetch(`${server.url}/api/capabilities`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assertCors(res);
  const body = await res.json();
  assert.deepEqual(Object.keys(body), [
    "claimed", "authMode", "attachments", "snapshots", "maxBlobUploadBytes", "socketTicketAuth",
    "serverVersion", "minPluginVersion", "recommendedPluginVersion", "minSchemaVersion",
    "maxSchemaVersion", "migrationRequired", "updateProvider", "updateRepoUrl", "updateRepoBranch",
  ]);
  assert.equal(body.claimed, false);
  assert.equal(body.authMode, "unclaimed");
  assert.equal(body.minSchemaVersion, 3);
  assert.equal(body.maxSchemaVersion, 3);
  assert.equal(body.socketTicketAuth, true);
  assert.equal(body.serverVersion, "0.3.0");
  assert.equal(body.attachments, false);
});

for (const [method, path] of [
  ["GET", "/wp-login.php"], ["GET", "/vault/x/admin"], ["GET", "/favicon.ico"],
  ["POST", "/vault/foo/debug/recent"], ["DELETE", "/vault/foo/blobs/x"], ["GET", "/vault/sync/x/"],
]) {
  test(`${method} ${path} is 404 JSON with CORS`, async () => {
    const res = await fetch(`${server.url}${path}`, { method });
    assert.equal(res.status, 404);
    assertCors(res);
    assert.deepEqual(await res.json(), { error: "not found" });
  });
}

test("the pages send their policy as headers: CSP with frame-ancestors, no framing, no sniffing", async () => {
  for (const path of ["/", "/mobile-setup"]) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy"), /^default-src 'none'; .*frame-ancestors 'none'$/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    await res.arrayBuffer();
  }
});

test("OPTIONS preflight on /api/* is 204 with CORS", async () => {
  const res = await fetch(`${server.url}/api/capabilities`, { method: "OPTIONS" });
  assert.equal(res.status, 204);
  assertCors(res);
});
