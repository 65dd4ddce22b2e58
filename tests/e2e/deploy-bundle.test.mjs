// The deploy bundle (scripts/bundle.mjs): a directory with the built worker
// and a wrangler.toml without a build step, so an operator with only Node
// can deploy. Checked from the bundle's own directory: `wrangler deploy
// --dry-run` (offline) reports the deployed shape, and `wrangler dev` runs it:
// it answers /api/capabilities and syncs an edit.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ROOT, startServer, tempDir } from "./harness.mjs";
import { connectClient, addNote, echoCount } from "./clients.mjs";
import { bundle } from "../../scripts/bundle.mjs";

const TOKEN = "e2e-bundle-token-0123456789abcdef0123";
let server;
after(async () => { await server?.stop(); });

const dir = bundle(join(tempDir("yaos-bundle-"), "yaos-server"));

test("the bundle holds the worker and a wrangler.toml with no build step", () => {
  for (const file of ["index.js", "index_bg.wasm", "worker/shim.mjs", "wrangler.toml", "package.json", "README.md"]) {
    assert.ok(existsSync(join(dir, file)), file);
  }
  const toml = readFileSync(join(dir, "wrangler.toml"), "utf8");
  assert.match(toml, /^main = "worker\/shim\.mjs"$/m);
  assert.doesNotMatch(toml, /^\[build\]/m, "no build step: no Rust toolchain needed");
  assert.match(toml, /^name = "yaos"$/m);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  assert.equal(pkg.devDependencies.wrangler, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies.wrangler);
});

test("wrangler deploy --dry-run from the bundle's directory reports the deployed shape", () => {
  const started = performance.now();
  const out = execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", tempDir("yaos-bundle-out-")], {
    cwd: dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", CI: "1" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const bindings = out.split("\n").filter((l) => l.startsWith("env.")).map((l) => l.replace(/\s+/g, " ").trim());
  assert.deepEqual(bindings, [
    "env.YAOS_SYNC (VaultSyncServer) Durable Object",
    "env.YAOS_CONFIG (ServerConfig) Durable Object",
  ]);
  assert.match(out, /--dry-run: exiting now/);
  console.log(`# dry-run deploy from the bundle: ${Math.round(performance.now() - started)} ms`);
});

test("wrangler dev runs the bundle from its own directory: capabilities and a synced edit", { timeout: 120_000 }, async () => {
  server = await startServer({ config: join(dir, "wrangler.toml"), vars: { SYNC_TOKEN: TOKEN }, readyPath: "/api/capabilities" });
  const res = await fetch(`${server.url}/api/capabilities`);
  assert.equal(res.status, 200);
  const caps = await res.json();
  assert.equal(caps.serverVersion, "0.3.0");
  assert.equal(caps.authMode, "env");
  assert.equal(caps.attachments, false, "the text-only shape");
  const client = connectClient(server, "bundle-vault", { token: TOKEN });
  await client.synced();
  addNote(client.doc, "from-the-bundle.md", "deployed without Rust");
  await echoCount(client, 2);
  client.close();
});
