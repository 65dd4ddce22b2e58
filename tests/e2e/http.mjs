// HTTP assertions shared by the end-to-end tests: the CORS decoration of
// spec 3, exactly four headers.
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

export function assertNoCors(res) {
  for (const k of Object.keys(CORS)) assert.equal(res.headers.get(k), null, k);
}
