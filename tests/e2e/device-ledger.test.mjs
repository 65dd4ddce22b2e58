// The device ledger (GET /vault/<id>/devices): two devices sync, one leaves,
// the other edits; the ledger says which is up to date, names each device
// from what the unmodified plugin sends (the URL's `device` with its debug
// tracing on, else the awareness `user.name` it sets when an editor opens),
// and outlives a restart of the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./harness.mjs";
import { tracked } from "./tracked.mjs";
import { addNote, coveringEcho, docUntil, noteText } from "./clients.mjs";

const TOKEN = "e2e-device-ledger-token-0123456789abcd";
const VAULT = "ledger-vault";
const { start, stop, connect, close } = tracked({ token: TOKEN, vault: VAULT });

async function devices(server) {
  const res = await fetch(`${server.url}/vault/${VAULT}/devices`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, await res.clone().text());
  const body = await res.json();
  return Object.fromEntries(body.devices.map((d) => [d.device, d]));
}

/** Polls the ledger until `pred` holds (the server's events, not ours). Bounded. */
async function devicesUntil(server, pred, what) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await devices(server);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

/** A device as the plugin is without debug tracing: named only by its awareness. */
function phone(server) {
  const c = connect(server);
  c.provider.awareness.setLocalStateField("user", { name: "phone", color: "#30bced" });
  return c;
}

test("the ledger names devices, says who is behind, and outlives a restart", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  let server = await start({ persistDir: dir });
  const laptop = connect(server, { device: "laptop" });
  const b = phone(server);
  await Promise.all([laptop.synced(), b.synced()]);
  const both = await devicesUntil(server, (d) => d.laptop?.upToDate && d.phone?.upToDate, "both named and up to date");
  assert.equal(Object.keys(both).length, 2, `no unnamed leftovers: ${Object.keys(both)}`);
  assert.equal(both.phone.connected, true);

  // The phone leaves (its provider disconnects, as the plugin's does when
  // the phone sleeps); the laptop writes three notes, each stored.
  b.provider.disconnect();
  await devicesUntil(server, (d) => d.phone?.connected === false, "the phone gone");
  for (const path of ["one.md", "two.md", "three.md"]) addNote(laptop.doc, path, path);
  await coveringEcho(laptop, 15_000, "the three notes stored");
  const behind = await devices(server);
  assert.equal(behind.laptop.upToDate, true, JSON.stringify(behind.laptop));
  assert.ok(behind.laptop.lastAckAt && behind.laptop.lastPushAt, "pushed and acknowledged");
  assert.equal(behind.phone.upToDate, false, "the phone misses the three notes");
  assert.equal(behind.phone.connected, false);
  assert.equal(behind.phone.missingNotes, 3, JSON.stringify(behind.phone));
  assert.deepEqual([...behind.phone.missingPaths].sort(), ["one.md", "three.md", "two.md"]);
  assert.equal(behind.laptop.missingNotes, 0);

  // The phone comes back (the same provider: its connection ID and
  // awareness kept, as in the plugin's session) and syncs: up to date.
  b.provider.connect();
  await b.synced();
  await docUntil(b.doc, (d) => noteText(d, "id-three.md") === "three.md", 15_000, "the notes at the phone");
  await devicesUntil(server, (d) => d.phone?.upToDate && d.phone.connected, "the phone caught up");

  // A restart keeps the ledger (its rows are in the object's SQLite).
  for (const c of [laptop, b]) close(c);
  await devicesUntil(server, (d) => !d.laptop.connected && !d.phone.connected, "both gone");
  await stop(server);
  server = await start({ persistDir: dir });
  const again = await devices(server);
  assert.deepEqual(Object.keys(again).sort(), ["laptop", "phone"]);
  assert.equal(again.phone.upToDate, true, "it left holding everything");
  assert.equal(again.laptop.connected, false);
});

test("the ledger needs the vault's token", async () => {
  const server = await start();
  const res = await fetch(`${server.url}/vault/${VAULT}/devices`, { headers: { Authorization: "Bearer wrong-token-0123456789abcdef012345" } });
  assert.equal(res.status, 401);
});
