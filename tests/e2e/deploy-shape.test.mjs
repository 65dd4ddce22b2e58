// The two deploy shapes, checked offline with `wrangler deploy --dry-run`:
// the default text-only wrangler.toml and the one with the R2 binding an
// operator adds for attachments and snapshots (spec 1, 2). Both are the
// deployed wrangler.toml with the built worker (scripts/local-config.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "./harness.mjs";
import { localConfig } from "../../scripts/local-config.mjs";

function dryRun(config) {
  return execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--config", config, "--outdir", tempDir("yaos-dry-")], {
    cwd: join(ROOT, "build"),
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", CI: "1" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const bindingLines = (out) => out.split("\n").filter((l) => l.startsWith("env.")).map((l) => l.replace(/\s+/g, " ").trim());

test("the deployed wrangler.toml keeps the names a TypeScript deployment's data lives under", () => {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  assert.match(toml, /^name = "yaos"$/m);
  assert.match(toml, /^tag = "v1"$/m);
  assert.match(toml, /^new_sqlite_classes = \["VaultSyncServer", "ServerConfig"\]$/m);
  assert.match(toml, /^# \[\[r2_buckets\]\]\n# binding = "YAOS_BUCKET"\n# bucket_name = "yaos"$/m, "the R2 block is documented, commented out");
});

test("wrangler deploy --dry-run accepts the text-only shape", () => {
  const out = dryRun(localConfig({ bucket: false }));
  assert.deepEqual(bindingLines(out), [
    "env.YAOS_SYNC (VaultSyncServer) Durable Object",
    "env.YAOS_CONFIG (ServerConfig) Durable Object",
  ]);
  assert.match(out, /--dry-run: exiting now/);
});

test("wrangler deploy --dry-run accepts the shape with the R2 bucket", () => {
  const out = dryRun(localConfig({ bucket: true }));
  assert.deepEqual(bindingLines(out), [
    "env.YAOS_SYNC (VaultSyncServer) Durable Object",
    "env.YAOS_CONFIG (ServerConfig) Durable Object",
    "env.YAOS_BUCKET (yaos) R2 Bucket",
  ]);
});
