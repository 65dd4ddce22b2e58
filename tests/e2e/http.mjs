// HTTP helpers shared by the end-to-end tests: the CORS decoration of
// spec 3 (exactly four headers), and a vault's debug JSON.
import assert from "node:assert/strict";

export const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "Authorization, Content-Type",
  "access-control-allow-methods": "GET, POST, PUT, OPTIONS",
  "access-control-expose-headers": "X-YAOS-Snapshot-Day",
};

export function assertCors(res) {
  for (const [k, v] of Object.entries(CORS)) assert.equal(res.headers.get(k), v, k);
}

/** `GET /vault/<vault>/debug/recent` with `token`, which must answer 200. */
export async function debugJson(server, vault, token) {
  const res = await fetch(`${server.url}/vault/${encodeURIComponent(vault)}/debug/recent`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return res.json();
}

export function assertNoCors(res) {
  for (const k of Object.keys(CORS)) assert.equal(res.headers.get(k), null, k);
}
