// Every vault route refuses a request without the vault's credential, and
// reads or writes nothing for it: no header, a wrong Bearer token, and a
// socket ticket of another vault (presented as a Bearer token and as a
// `?ticket=` query) each get 401 `unauthorized` with CORS. Afterwards the
// vault, looked at with the right token, holds no snapshot, no blob and no
// trace of the refused requests. The admin routes are on here, so they are
// refused by the credential check, not by being absent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startServer } from "./harness.mjs";
import { assertCors, debugJson } from "./http.mjs";

const TOKEN = "e2e-route-auth-token-0123456789abcdef";
const VAULT = "route-auth-vault";
const OTHER = "route-auth-other";
const BLOB = createHash("sha256").update("a blob nobody may write").digest("hex");
let server;

before(async () => { server = await startServer({ vars: { SYNC_TOKEN: TOKEN, YAOS_ENABLE_ADMIN_ROUTES: "1" } }); });
after(async () => { await server?.stop(); });

/** Every route of `edge::router::VaultAction`, with a body that would be valid. */
const ROUTES = [
  ["POST", "auth/ticket", "{}"],
  ["GET", "debug/recent"],
  ["GET", "devices"],
  ["POST", "debug/compact", "{}"],
  ["POST", "debug/cleanup-kv", "{}"],
  ["POST", "debug/repair-migration", JSON.stringify({ confirm: true })],
  ["POST", "blobs/exists", JSON.stringify({ hashes: [BLOB] })],
  ["GET", `blobs/${BLOB}`],
  ["PUT", `blobs/${BLOB}`, "a blob nobody may write"],
  ["GET", "snapshots"],
  ["POST", "snapshots", JSON.stringify({ device: "intruder" })],
  ["POST", "snapshots/maybe", JSON.stringify({ device: "intruder" })],
  ["POST", "snapshots/prune", "{}"],
  ["GET", "snapshots/status"],
  ["GET", "snapshots/20261203T000000Z-00000000"],
  ["GET", "snapshots/mx7kvou4-d852266a/files"],
  ["GET", "snapshots/mx7kvou4-d852266a/files/Notes/a.md"],
  ["POST", "snapshots/mx7kvou4-d852266a/restore", JSON.stringify({ paths: ["Notes/a.md"] })],
];

test("every vault route refuses a missing token, a wrong one and another vault's ticket, and touches nothing", async () => {
  const ticketRes = await fetch(`${server.url}/vault/${OTHER}/auth/ticket`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(ticketRes.status, 200);
  const { ticket } = await ticketRes.json();
  const credentials = {
    "no header": { headers: {}, query: "" },
    "a wrong token": { headers: { Authorization: "Bearer wrong-token-0123456789abcdef0123456789" }, query: "" },
    "another vault's ticket as a Bearer token": { headers: { Authorization: `Bearer ${ticket}` }, query: "" },
    "another vault's ticket as ?ticket=": { headers: {}, query: `?ticket=${encodeURIComponent(ticket)}` },
  };
  let address = 0;
  for (const [method, path, body] of ROUTES) {
    for (const [kind, { headers, query }] of Object.entries(credentials)) {
      // Each request from its own address: the failed-authentication
      // throttle (30 a minute per address) must not answer in its place.
      const from = { "CF-Connecting-IP": `192.0.2.${++address}` };
      const res = await fetch(`${server.url}/vault/${VAULT}/${path}${query}`, { method, headers: { ...headers, ...from }, body });
      const what = `${method} ${path} with ${kind}`;
      assert.equal(res.status, 401, what);
      assertCors(res);
      assert.deepEqual(await res.json(), { error: "unauthorized" }, what);
    }
  }

  // Nothing was read or written.
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const list = await fetch(`${server.url}/vault/${VAULT}/snapshots`, { headers: auth });
  assert.equal(list.status, 200);
  assert.deepEqual((await list.json()).snapshots, [], "no snapshot was taken");
  const blob = await fetch(`${server.url}/vault/${VAULT}/blobs/${BLOB}`, { headers: auth });
  assert.equal(blob.status, 404, "no blob was written");
  await blob.arrayBuffer();
  const debug = await debugJson(server, VAULT, TOKEN);
  assert.deepEqual(debug.recent, [], "no refused request reached the vault's object");
  assert.equal(debug.persistence.journalEntryCount ?? 0, 0);
  assert.ok(!server.output.includes(TOKEN) && !server.output.includes(ticket), "no credential in the log");
  assert.deepEqual(server.crashLines(), []);
});
