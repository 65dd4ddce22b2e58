// Assembles a self-contained deployable bundle from the built worker
// (build/, made by scripts/build.sh): the worker and its wasm, a
// wrangler.toml that points at them and has no build step, a package.json
// pinning wrangler, and a README. An operator with only Node deploys from
// it: `npm install && npx wrangler deploy`. No Rust toolchain is needed.
//
//   node scripts/bundle.mjs [OUT]      # default dist/yaos-server; prints OUT
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { localConfig } from "./local-config.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export function bundle(out = join(ROOT, "dist", "yaos-server")) {
  out = resolve(out);
  for (const file of ["index.js", "index_bg.wasm", "worker/shim.mjs"]) {
    if (!existsSync(join(ROOT, "build", file))) throw new Error(`build/${file} is missing: run scripts/build.sh first`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "worker"), { recursive: true });
  for (const file of ["index.js", "index_bg.wasm", "worker/shim.mjs"]) cpSync(join(ROOT, "build", file), join(out, file));
  // The deployed wrangler.toml, text-only as shipped, with `main` on the
  // bundled worker and no [build] step; its comments say how to add R2.
  localConfig({ bucket: false, out: join(out, "wrangler.toml") });
  const rootPackage = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const wrangler = rootPackage.devDependencies?.wrangler ?? rootPackage.dependencies?.wrangler;
  const version = readFileSync(join(ROOT, "Cargo.toml"), "utf8").match(/^version = "([^"]+)"/m)?.[1] ?? "0.0.0";
  writeFileSync(join(out, "package.json"), JSON.stringify({
    name: "yaos-server-bundle", version, private: true,
    description: "The YAOS sync server (Rust, built to WebAssembly), ready for wrangler deploy",
    scripts: { deploy: "wrangler deploy", dev: "wrangler dev --local" },
    devDependencies: { wrangler },
  }, null, 2) + "\n");
  writeFileSync(join(out, "README.md"), `# YAOS server ${version}, ready to deploy

Built from the Rust sources; deploying it needs only Node (22 or newer).

\`\`\`sh
npm install              # wrangler ${wrangler}, from the npm registry
npx wrangler login       # or set CLOUDFLARE_API_TOKEN
npx wrangler deploy
\`\`\`

\`wrangler.toml\` deploys the text-only shape under the worker name \`yaos\`
(the name a TypeScript deployment's data lives under). For attachments and
snapshots, create the bucket (\`npx wrangler r2 bucket create yaos\`) and
uncomment the \`[[r2_buckets]]\` block, then deploy again. The settings are
described in the comments of \`wrangler.toml\`.
`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(bundle(process.argv[2]));
