// Attachments and snapshots on wrangler dev's local R2 bucket (spec 7.3,
// 7.4, 10.7): the plugin's blob sync byte for byte, daily and manual
// snapshots of the live document, listing, status, download, retention, and
// objects an older TypeScript deployment left in the bucket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync, gunzipSync } from "node:zlib";
import { startServer, tempDir, ROOT } from "./harness.mjs";
import { Y, connectClient, addNote, echoCount, sameContent } from "./clients.mjs";
import { assertCors } from "./http.mjs";

const TOKEN = "e2e-r2-token-0123456789abcdef0123";
const DAY = 86_400_000;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const auth = { Authorization: `Bearer ${TOKEN}` };

const dir = tempDir();
let server;
const seeded = {};

/** A snapshot as an older server wrote it: real gzip of a real update. */
function oldSnapshot(vault, createdMs, fields, doc) {
  const update = Y.encodeStateAsUpdate(doc);
  const payload = gzipSync(update);
  const id = `${createdMs.toString(36)}-${createHash("md5").update(`${vault}${createdMs}`).digest("hex").slice(0, 8)}`;
  const day = new Date(createdMs).toISOString().slice(0, 10);
  const index = {
    snapshotId: id, vaultId: vault, createdAt: new Date(createdMs).toISOString(), day, schemaVersion: 2,
    markdownFileCount: doc.getMap("pathToId").size, blobFileCount: 0, crdtSizeBytes: payload.length,
    crdtRawSizeBytes: update.length, referencedBlobHashes: [], ...fields,
  };
  const prefix = `v1/${vault}/snapshots/${day}/${id}`;
  return { id, day, index, objects: [[`${prefix}/crdt.bin.gz`, payload, "application/gzip"], [`${prefix}/index.json`, JSON.stringify(index), "application/json"]] };
}

function docWith(path, text) {
  const doc = new Y.Doc();
  addNote(doc, path, text);
  return doc;
}

before(async () => {
  // What an older deployment left in the bucket.
  const writer = await startServer({ persistDir: dir, config: `${ROOT}/tests/r2-writer/wrangler.toml`, readyPath: "/" });
  const now = Date.now();
  const put = async (key, body, type) => {
    const res = await fetch(`${writer.url}/${encodeURIComponent(key)}`, { method: "PUT", body, headers: { "Content-Type": type } });
    assert.equal(res.status, 204, key);
  };
  // ts-vault: an index from before fullUpdateHash (stateVectorHash only, no reason), as the pointer too; and a blob.
  seeded.tsDoc = docWith("old/note.md", "written by the TypeScript server");
  seeded.ts = oldSnapshot("ts-vault", now - 3 * DAY, { triggeredBy: "old-phone", stateVectorHash: "ab".repeat(32), semanticHash: "cd".repeat(32) }, seeded.tsDoc);
  seeded.blob = Buffer.from("an attachment uploaded through the TypeScript server");
  for (const o of seeded.ts.objects) await put(...o);
  await put("v1/ts-vault/snapshots/latest-index.json", JSON.stringify(seeded.ts.index), "application/json");
  await put(`v1/ts-vault/blobs/${sha256(seeded.blob)}`, seeded.blob, "image/png");
  // day-vault: a pointer with no hash fields at all and a snapshot today.
  seeded.day = oldSnapshot("day-vault", now - 60_000, {}, docWith("d.md", "d"));
  for (const o of seeded.day.objects) await put(...o);
  await put("v1/day-vault/snapshots/latest-index.json", JSON.stringify(seeded.day.index), "application/json");
  // prune-vault: old dailies (one pinned), an old legacy one, an old manual one.
  const old = (name, daysAgo, fields) => {
    seeded[name] = oldSnapshot("prune-vault", now - daysAgo * DAY, fields, docWith(`${name}.md`, name));
    return seeded[name];
  };
  for (const s of [
    old("recentDaily", 1, { reason: "daily", pinned: false }),
    old("oldDaily", 500, { reason: "daily", pinned: false }),
    old("oldPinned", 501, { reason: "daily", pinned: true }),
    old("oldLegacy", 502, {}),
    old("oldManual", 503, { reason: "manual", pinned: true }),
  ]) for (const o of s.objects) await put(...o);
  await writer.stop();
  server = await startServer({ persistDir: dir, vars: { SYNC_TOKEN: TOKEN } });
});
after(async () => { await server?.stop(); });

const url = (vault, path) => `${server.url}/vault/${encodeURIComponent(vault)}/${path}`;

async function call(method, vault, path, { body, headers = {} } = {}) {
  const res = await fetch(url(vault, path), { method, body, headers: { ...auth, ...headers } });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json = null;
  try { json = JSON.parse(bytes.toString()); } catch {}
  return { res, status: res.status, bytes, json };
}

test("capabilities and the home page advertise attachments and snapshots with a bucket bound", async () => {
  const caps = await (await fetch(`${server.url}/api/capabilities`)).json();
  assert.equal(caps.attachments, true);
  assert.equal(caps.snapshots, true);
  assert.equal(caps.maxBlobUploadBytes, 10485760);
  const home = await (await fetch(`${server.url}/`)).text();
  assert.match(home, /Attachments: ON/);
  assert.match(home, /Snapshots: ON/);
});

test("blob upload, exists and download are byte-exact with the content type", async () => {
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
  const hash = sha256(body);
  const missing = sha256(Buffer.from("never uploaded"));
  const up = await call("PUT", "blob-vault", `blobs/${hash}`, { body, headers: { "Content-Type": "image/png" } });
  assert.equal(up.status, 204);
  assert.equal(up.bytes.length, 0);
  assertCors(up.res);
  const exists = await call("POST", "blob-vault", "blobs/exists", { body: JSON.stringify({ hashes: [missing, hash, "nope", 5] }) });
  assert.equal(exists.status, 200);
  assert.deepEqual(exists.json, { present: [hash] });
  const down = await call("GET", "blob-vault", `blobs/${hash}`);
  assert.equal(down.status, 200);
  assert.equal(down.res.headers.get("content-type"), "image/png");
  assert.equal(down.res.headers.get("cache-control"), "no-store");
  assertCors(down.res);
  assert.ok(down.bytes.equals(body), "the same bytes come back");
  // Another vault does not see it: blobs are per vault.
  const other = await call("POST", "other-vault", "blobs/exists", { body: JSON.stringify({ hashes: [hash] }) });
  assert.deepEqual(other.json, { present: [] });
});

test("an upload without Content-Length streams in, and without a type is octet-stream", async () => {
  const body = Buffer.from("chunked ".repeat(5000));
  const hash = sha256(body);
  const stream = new ReadableStream({ start(c) { c.enqueue(body.subarray(0, 1000)); c.enqueue(body.subarray(1000)); c.close(); } });
  const res = await fetch(url("blob-vault", `blobs/${hash}`), { method: "PUT", body: stream, duplex: "half", headers: auth });
  assert.equal(res.status, 204, await res.text());
  const down = await call("GET", "blob-vault", `blobs/${hash}`);
  assert.ok(down.bytes.equals(body));
  assert.equal(down.res.headers.get("content-type"), "application/octet-stream");
});

test("upload refusals: invalid hash, bad or oversized Content-Length, oversized body, empty body, hash mismatch", async () => {
  const body = Buffer.from("some bytes");
  const hash = sha256(body);
  const invalid = { error: "invalid hash: must be 64 hex chars (SHA-256)" };
  for (const bad of ["exists", hash.toUpperCase(), hash.slice(1)]) {
    assert.deepEqual((await call("PUT", "blob-vault", `blobs/${bad}`, { body })).json, invalid, bad);
    const get = await call("GET", "blob-vault", `blobs/${bad}`);
    assert.equal(get.status, 400);
    assert.deepEqual(get.json, invalid);
  }
  const mismatch = await call("PUT", "blob-vault", `blobs/${sha256(Buffer.from("other"))}`, { body });
  assert.equal(mismatch.status, 400);
  assert.deepEqual(mismatch.json, { error: "hash mismatch" });
  assert.equal((await call("POST", "blob-vault", "blobs/exists", { body: JSON.stringify({ hashes: [sha256(Buffer.from("other"))] }) })).json.present.length, 0, "nothing stored");
  const empty = await call("PUT", "blob-vault", `blobs/${hash}`, { body: "" });
  assert.equal(empty.status, 400);
  assert.deepEqual(empty.json, { error: "missing request body" });

  const tooBig = { error: "contentLength exceeds max upload size (10485760 bytes)" };
  // By header: Content-Length 10485761 is refused before the body is read.
  // (A malformed Content-Length never gets past an HTTP parser to the
  // Worker; its rule is pinned by the native tests of edge::blobs.)
  const declared = await call("PUT", "blob-vault", `blobs/${sha256(Buffer.alloc(10485761))}`, { body: Buffer.alloc(10485761) });
  assert.equal(declared.status, 413);
  assert.deepEqual(declared.json, tooBig);

  const chunk = Buffer.alloc(1 << 20, 1);
  let sent = 0;
  const stream = new ReadableStream({
    pull(c) {
      if (sent > 10 * (1 << 20)) return c.close();
      c.enqueue(sent === 10 * (1 << 20) ? Buffer.from([1]) : chunk);
      sent += sent === 10 * (1 << 20) ? 1 : chunk.length;
    },
  });
  const res = await fetch(url("blob-vault", `blobs/${hash}`), { method: "PUT", body: stream, duplex: "half", headers: auth });
  assert.equal(res.status, 413);
  assert.deepEqual(await res.json(), tooBig);
});

test("missing blobs are 404, and GET/PUT on blobs/exists treat it as a hash", async () => {
  const missing = await call("GET", "blob-vault", `blobs/${sha256(Buffer.from("nothing"))}`);
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { error: "not found" });
  assertCors(missing.res);
  assert.equal((await call("GET", "blob-vault", "blobs/exists")).status, 400);
  const notJson = await call("POST", "blob-vault", "blobs/exists", { body: "{" });
  assert.deepEqual([notJson.status, notJson.json], [400, { error: "invalid json" }]);
  const noArray = await call("POST", "blob-vault", "blobs/exists", { body: "{}" });
  assert.deepEqual([noArray.status, noArray.json], [400, { error: "missing hashes array" }]);
});

test("a blob the TypeScript server stored downloads with its type", async () => {
  const hash = sha256(seeded.blob);
  const exists = await call("POST", "ts-vault", "blobs/exists", { body: JSON.stringify({ hashes: [hash] }) });
  assert.deepEqual(exists.json, { present: [hash] });
  const down = await call("GET", "ts-vault", `blobs/${hash}`);
  assert.equal(down.status, 200);
  assert.equal(down.res.headers.get("content-type"), "image/png");
  assert.ok(down.bytes.equals(seeded.blob));
});

async function download(vault, id) {
  const got = await call("GET", vault, `snapshots/${id}`);
  assert.equal(got.status, 200);
  assert.equal(got.res.headers.get("content-type"), "application/gzip");
  assert.equal(got.res.headers.get("cache-control"), "no-store");
  assertCors(got.res);
  const doc = new Y.Doc();
  Y.applyUpdate(doc, gunzipSync(got.bytes));
  return { doc, day: got.res.headers.get("x-yaos-snapshot-day"), bytes: got.bytes };
}

test("daily snapshots: created, then noop, then created again after an edit; manual ones are pinned", async () => {
  const vault = "snap-vault";
  const client = connectClient(server, vault, { token: TOKEN });
  // Every local transaction is one update frame, and each gets one echo,
  // after the baseline and the echo of the client's Step2 reply. A deletion
  // does not move the state vector, so echoes are counted, not compared.
  let localUpdates = 0;
  client.doc.on("update", (_update, origin) => { if (origin !== client.provider) localUpdates++; });
  const stored = () => echoCount(client, 2 + localUpdates);
  await client.synced();
  addNote(client.doc, "a.md", "alpha");
  addNote(client.doc, "b.md", "beta");
  client.doc.getMap("pathToBlob").set("img/x.png", { hash: "f".repeat(64), size: 3 });
  await stored();

  const first = await call("POST", vault, "snapshots/maybe", { body: JSON.stringify({ device: "laptop" }) });
  assert.equal(first.status, 200);
  assert.equal(first.json.status, "created");
  const index = first.json.index;
  assert.equal(first.json.snapshotId, index.snapshotId);
  assert.match(index.snapshotId, /^[0-9a-z]+-[0-9a-f]{8}$/);
  assert.deepEqual(Object.keys(index), [
    "snapshotId", "vaultId", "createdAt", "day", "schemaVersion", "markdownFileCount", "blobFileCount",
    "crdtSizeBytes", "crdtRawSizeBytes", "referencedBlobHashes", "triggeredBy", "fullUpdateHash",
    "structureHash", "pinned", "reason",
  ]);
  assert.equal(index.vaultId, vault);
  assert.equal(index.day, index.createdAt.slice(0, 10));
  assert.equal(index.schemaVersion, 3);
  assert.equal(index.markdownFileCount, 2);
  assert.equal(index.blobFileCount, 1);
  assert.deepEqual(index.referencedBlobHashes, ["f".repeat(64)]);
  assert.equal(index.triggeredBy, "laptop");
  assert.equal(index.pinned, false);
  assert.equal(index.reason, "daily");
  const lines = ["md:a.md:id-a.md", "md:b.md:id-b.md", `blob:img/x.png:${"f".repeat(64)}`].sort();
  assert.equal(index.structureHash, sha256(Buffer.from(lines.join("\n"))));

  const { doc, day, bytes } = await download(vault, index.snapshotId);
  assert.ok(sameContent(doc, client.doc), "the snapshot is the live document");
  assert.equal(day, index.day);
  assert.equal(bytes.length, index.crdtSizeBytes);
  assert.equal(gunzipSync(bytes).length, index.crdtRawSizeBytes);
  assert.equal(sha256(gunzipSync(bytes)), index.fullUpdateHash);

  const again = await call("POST", vault, "snapshots/maybe", { body: "{}" });
  assert.deepEqual(again.json, { status: "noop", reason: "No changes since last snapshot (full CRDT state identical)" });

  client.doc.getMap("idToText").get("id-a.md").insert(0, "edited ");
  await stored();
  const third = await call("POST", vault, "snapshots/maybe", { body: "not json" });
  assert.equal(third.json.status, "created");
  assert.notEqual(third.json.snapshotId, index.snapshotId);
  assert.equal("triggeredBy" in third.json.index, false, "no device, no triggeredBy");

  const manual = await call("POST", vault, "snapshots", { body: JSON.stringify({ device: "phone" }) });
  assert.equal(manual.json.status, "created");
  assert.equal(manual.json.index.pinned, true);
  assert.equal(manual.json.index.reason, "manual");
  assert.equal(manual.json.snapshotIdenticalToLatest, true, "nothing changed since the last daily");
  assert.equal(manual.json.semanticUnchanged, true);
  client.doc.getMap("idToText").get("id-b.md").delete(0, 2);
  await stored();
  const manual2 = await call("POST", vault, "snapshots", {});
  assert.equal(manual2.json.snapshotIdenticalToLatest, false, "a deletion is a change");

  // Listing: newest first, default shape, limit and format=v2.
  const list = await call("GET", vault, "snapshots");
  assert.deepEqual(Object.keys(list.json), ["snapshots"]);
  const ids = list.json.snapshots.map((s) => s.snapshotId);
  assert.deepEqual(ids, [manual2.json.snapshotId, manual.json.snapshotId, third.json.snapshotId, index.snapshotId]);
  const limited = await call("GET", vault, "snapshots?limit=1&format=v2");
  assert.deepEqual(Object.keys(limited.json), ["snapshots", "totalIndexKeys", "fetchedCount", "limited"]);
  assert.equal(limited.json.totalIndexKeys, 4);
  assert.equal(limited.json.fetchedCount, 1);
  assert.equal(limited.json.limited, true);
  assert.equal((await call("GET", vault, "snapshots?limit=0&format=v2")).json.fetchedCount, 4, "0 means the default");
  assert.equal((await call("GET", vault, "snapshots?limit=-3&format=v2")).json.fetchedCount, 1, "clamped to 1");

  const status = await call("GET", vault, "snapshots/status");
  assert.equal(status.status, 200);
  assert.equal(status.json.snapshotCount, 4);
  assert.equal(status.json.snapshotCountLowerBound, 4);
  assert.equal(status.json.listedSnapshotCount, 4);
  assert.equal(status.json.listingLimited, false);
  assert.equal(status.json.pinnedCount, 2);
  assert.equal(status.json.latestSnapshotId, manual2.json.snapshotId);
  assert.equal(status.json.estimatedStorageBytes, list.json.snapshots.reduce((n, s) => n + s.crdtSizeBytes, 0));

  // The debug traces name what happened.
  const recent = (await call("GET", vault, "debug/recent")).json.recent.map((t) => t.event);
  assert.ok(recent.includes("snapshot-created"), recent.join(","));
  assert.ok(recent.includes("snapshot-created-manual"), recent.join(","));
  client.close();
});

test("snapshot IDs that do not parse, and missing snapshots, are 404", async () => {
  for (const id of ["maybe", "prune", "not-an-id", "0-00000000", "lx2a-0123abc", "zzzzzzzzzzzz-00000000"]) {
    const got = await call("GET", "snap-vault", `snapshots/${id}`);
    assert.equal(got.status, 404, id);
    assert.deepEqual(got.json, { error: "not found" });
    assertCors(got.res);
  }
  assert.equal((await call("GET", "snap-vault", `snapshots/${Date.now().toString(36)}-00000000`)).status, 404);
});

test("objects in the TypeScript layout are listed, downloaded and superseded", async () => {
  const list = await call("GET", "ts-vault", "snapshots?format=v2");
  assert.equal(list.json.totalIndexKeys, 1);
  assert.deepEqual(list.json.snapshots[0], seeded.ts.index, "served exactly as stored");
  const { doc, day } = await download("ts-vault", seeded.ts.id);
  assert.ok(sameContent(doc, seeded.tsDoc));
  assert.equal(day, seeded.ts.day);
  // Browsable though it has no notes pack: one is made from its payload.
  const files = await call("GET", "ts-vault", `snapshots/${seeded.ts.id}/files`);
  assert.equal(files.status, 200, files.bytes.toString());
  assert.deepEqual(files.json.notes, [{ path: "old/note.md", bytes: 32, now: "absent", changed: false }]);
  const note = await fetch(`${server.url}/vault/ts-vault/snapshots/${seeded.ts.id}/files/old/note.md`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(await note.text(), "written by the TypeScript server");
  const status = await call("GET", "ts-vault", "snapshots/status");
  assert.equal(status.json.latestSnapshotId, seeded.ts.id);
  // A pointer with only stateVectorHash cannot prove "unchanged": a daily is taken.
  const maybe = await call("POST", "ts-vault", "snapshots/maybe", { body: "{}" });
  assert.equal(maybe.json.status, "created");
  // A pointer with no hash at all: one daily per day, and today has one.
  const day2 = await call("POST", "day-vault", "snapshots/maybe", { body: "{}" });
  const today = new Date().toISOString().slice(0, 10);
  if (seeded.day.day === today) {
    assert.deepEqual(day2.json, { status: "noop", reason: `Snapshot already taken today (${today})` });
  } else {
    assert.equal(day2.json.status, "created", "the seeded snapshot fell on yesterday (test ran at midnight)");
  }
});

test("prune applies retention; legacy snapshots go only with the confirmation", async () => {
  const unconfirmed = await call("POST", "prune-vault", "snapshots/prune", { body: JSON.stringify({ pruneLegacy: true }) });
  assert.equal(unconfirmed.status, 400);
  assert.deepEqual(unconfirmed.json, { error: "pruneLegacy requires confirmLegacyPrune: 'DELETE_LEGACY_SNAPSHOTS'" });
  const pruned = await call("POST", "prune-vault", "snapshots/prune", { body: "garbage" });
  assert.equal(pruned.status, 200);
  assert.deepEqual(pruned.json, { kept: 4, pruned: 1, failed: 0 });
  const left = (await call("GET", "prune-vault", "snapshots")).json.snapshots.map((s) => s.snapshotId);
  assert.deepEqual(left, [seeded.recentDaily.id, seeded.oldPinned.id, seeded.oldLegacy.id, seeded.oldManual.id]);
  assert.equal((await call("GET", "prune-vault", `snapshots/${seeded.oldDaily.id}`)).status, 404, "both objects are gone");
  const legacy = await call("POST", "prune-vault", "snapshots/prune", { body: JSON.stringify({ pruneLegacy: true, confirmLegacyPrune: "DELETE_LEGACY_SNAPSHOTS" }) });
  assert.deepEqual(legacy.json, { kept: 3, pruned: 1, failed: 0 });
  const recent = (await call("GET", "prune-vault", "debug/recent")).json.recent;
  const trace = recent.find((t) => t.event === "snapshot-retention-applied");
  assert.equal(trace.pruneLegacy, true);
  assert.equal(trace.pruned, 1);
});

test("the snapshot routes need the token", async () => {
  for (const [method, path] of [["GET", "snapshots"], ["POST", "snapshots/maybe"], ["PUT", `blobs/${"a".repeat(64)}`]]) {
    const res = await fetch(url("snap-vault", path), { method, headers: { Authorization: "Bearer wrong" }, body: method === "GET" ? undefined : "{}" });
    assert.equal(res.status, 401, path);
    assertCors(res);
  }
});

test("without a bucket every attachment and snapshot route keeps its unavailable answer", async () => {
  const bare = await startServer({ bucket: false, vars: { SYNC_TOKEN: TOKEN } });
  try {
    const caps = await (await fetch(`${bare.url}/api/capabilities`)).json();
    assert.deepEqual([caps.attachments, caps.snapshots], [false, false]);
    assert.match(await (await fetch(`${bare.url}/`)).text(), /Attachments: OFF/);
    const hash = "a".repeat(64);
    const cases = [
      ["POST", "blobs/exists", 503, { error: "attachments_unavailable" }],
      ["PUT", `blobs/${hash}`, 503, { error: "attachments_unavailable" }],
      ["GET", `blobs/${hash}`, 503, { error: "attachments_unavailable" }],
      ["GET", "blobs/exists", 503, { error: "attachments_unavailable" }],
      ["POST", "snapshots", 200, { status: "unavailable", reason: "R2 bucket not configured" }],
      ["POST", "snapshots/maybe", 200, { status: "unavailable", reason: "R2 bucket not configured" }],
      ["GET", "snapshots", 503, { error: "snapshots_unavailable" }],
      ["GET", "snapshots/status", 503, { error: "snapshots_unavailable" }],
      ["POST", "snapshots/prune", 503, { error: "snapshots_unavailable" }],
      ["GET", `snapshots/${Date.now().toString(36)}-00000000`, 503, { error: "snapshots_unavailable" }],
    ];
    for (const [method, path, status, body] of cases) {
      const res = await fetch(`${bare.url}/vault/bare-vault/${path}`, { method, headers: auth, body: method === "GET" ? undefined : "{}" });
      assert.equal(res.status, status, `${method} ${path}`);
      assertCors(res);
      assert.deepEqual(await res.json(), body, `${method} ${path}`);
    }
  } finally {
    await bare.stop();
  }
});
