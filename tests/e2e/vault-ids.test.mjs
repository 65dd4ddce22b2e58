// Vault IDs (engineering/reliability.md): an ID a request header cannot
// carry, or one too long for its R2 keys, is refused with 400 at the edge
// instead of a 500 from every request; an ID with `/` still works, and the
// vault it nests under never lists or prunes its snapshots. Also: the admin
// routes stay off when YAOS_ENABLE_ADMIN_ROUTES is "false".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./harness.mjs";
import { connectClient, addNote, coveringEcho } from "./clients.mjs";
import { assertCors } from "./http.mjs";

const TOKEN = "e2e-vault-id-token-0123456789abcdef";
const auth = { Authorization: `Bearer ${TOKEN}` };
let server;

before(async () => {
  server = await startServer({ vars: { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "false" } });
});
after(async () => { await server?.stop(); });

test("IDs with CR, LF, NUL, characters above U+00FF or over 512 bytes are 400 invalid vaultId", async () => {
  const bad = ["a\rb", "a\nb", "a\0b", "ā", "日本", "a".repeat(513)];
  for (const id of bad) {
    const enc = encodeURIComponent(id);
    for (const [method, path] of [["GET", `/vault/${enc}/snapshots`], ["POST", `/vault/${enc}/auth/ticket`], ["GET", `/vault/${enc}/debug/recent`]]) {
      const res = await fetch(`${server.url}${path}`, { method, headers: auth });
      assert.equal(res.status, 400, `${method} ${path}`);
      assert.deepEqual(await res.json(), { error: "invalid vaultId" });
      assertCors(res);
    }
    const socket = await fetch(`${server.url}/vault/sync/${enc}?token=${TOKEN}&schemaVersion=3`);
    assert.equal(socket.status, 400, `socket ${JSON.stringify(id.slice(0, 8))}`);
    await socket.arrayBuffer();
  }
  const ok = await fetch(`${server.url}/vault/${"a".repeat(512)}/debug/recent`, { headers: auth });
  assert.equal(ok.status, 200, "512 bytes is allowed");
  await ok.arrayBuffer();
  assert.deepEqual(server.crashLines(), []);
});

test("a vault whose ID contains / works, and the vault it nests under never sees its snapshots", async () => {
  const nested = "p/snapshots/x";
  const client = connectClient(server, nested, { token: TOKEN });
  await client.synced();
  addNote(client.doc, "n.md", "in the nested vault");
  await coveringEcho(client);
  const created = await fetch(`${server.url}/vault/${encodeURIComponent(nested)}/snapshots`, { method: "POST", headers: auth, body: "{}" });
  assert.equal(created.status, 200);
  assert.equal((await created.json()).status, "created");
  client.close();
  const list = async (vault) => {
    const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/snapshots?format=v2`, { headers: auth });
    assert.equal(res.status, 200);
    return res.json();
  };
  assert.equal((await list(nested)).snapshots.length, 1);
  assert.deepEqual((await list("p")).snapshots, [], "p lists none of p/snapshots/x's snapshots");
  const prune = await fetch(`${server.url}/vault/p/snapshots/prune`, {
    method: "POST", headers: auth, body: JSON.stringify({ pruneLegacy: true, confirmLegacyPrune: "DELETE_LEGACY_SNAPSHOTS" }),
  });
  assert.deepEqual(await prune.json(), { kept: 0, pruned: 0, failed: 0 });
  assert.equal((await list(nested)).snapshots.length, 1, "p's retention left them alone");
});

test("YAOS_ENABLE_ADMIN_ROUTES=false leaves the admin routes off", async () => {
  for (const route of ["compact", "cleanup-kv", "repair-migration"]) {
    const res = await fetch(`${server.url}/vault/v/debug/${route}`, { method: "POST", headers: auth });
    assert.equal(res.status, 404, route);
    assert.deepEqual(await res.json(), { error: "not found" });
  }
});
