// Writes the wrangler config that local runs use (scripts/dev.sh and the
// end-to-end tests): the deployed wrangler.toml without its [build] step
// (the worker is built beforehand), `main` pointing at the built shim, and,
// unless --no-bucket, the R2 binding `YAOS_BUCKET` on a local bucket, so
// attachments and snapshots work out of the box. wrangler dev keeps that
// bucket under --persist-to, next to the Durable Objects' SQLite files.
//
//   node scripts/local-config.mjs [--no-bucket] [--out PATH]   # prints PATH
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The R2 block wrangler.toml documents for operators, enabled. */
export const BUCKET_BLOCK = '[[r2_buckets]]\nbinding = "YAOS_BUCKET"\nbucket_name = "yaos"\n';

export function localConfig({ bucket = true, out = join(ROOT, "build", bucket ? "wrangler.local.toml" : "wrangler.text-only.toml") } = {}) {
  const lines = readFileSync(join(ROOT, "wrangler.toml"), "utf8").split("\n");
  const kept = [];
  let skipping = false;
  for (const line of lines) {
    if (/^\[build\]\s*$/.test(line)) { skipping = true; continue; }
    if (skipping && /^\[/.test(line)) skipping = false;
    if (skipping) continue;
    kept.push(line.startsWith("main =") ? 'main = "worker/shim.mjs"' : line);
  }
  let text = kept.join("\n");
  if (bucket) text += `\n# Added for local runs by scripts/local-config.mjs.\n${BUCKET_BLOCK}`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const opts = { bucket: !args.includes("--no-bucket") };
  if (outAt >= 0) opts.out = args[outAt + 1];
  console.log(localConfig(opts));
}
