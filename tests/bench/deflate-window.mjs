// What the compression window costs and saves: zlib at the level the Workers
// runtime compresses WebSocket messages with (6, the default), on the
// benchmark's notes and on real Markdown, for each window size, so the
// choice behind YAOS_DEFLATE_WINDOW_BITS can be checked. Run through
// scripts/bench.sh --deflate-window [N] [DIR...]: N notes of 2 KiB (default
// 10,000) and every Markdown file over 2 KiB under the DIRs, in sorted path
// order, up to 20 MB. The default DIR is this repository's node_modules,
// whose packages package-lock.json pins, so the "real Markdown" corpus is the
// same on every machine after `scripts/setup.sh`; its file count, bytes and
// SHA-256 are printed so a reader can check that it is.
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { noteBody } from "./content.mjs";

const N = Number(process.argv[2] ?? 10000);
const dirs = process.argv.length > 3 ? process.argv.slice(3) : ["node_modules"];
const WINDOWS = [15, 13, 12, 11, 10];

function* markdown(dir) {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* markdown(path);
    else if (e.name.endsWith(".md") && statSync(path).size > 2048) yield path;
  }
}

function table(name, buf) {
  const rows = WINDOWS.map((windowBits) => {
    const times = [];
    let out = 0;
    for (let run = 0; run < 3; run++) {
      const t = performance.now();
      out = zlib.deflateRawSync(buf, { level: 6, windowBits }).length;
      times.push(performance.now() - t);
    }
    const ms = times.sort((a, b) => a - b)[1];
    return { windowBits, medianMs: Math.round(ms * 10) / 10, mbPerS: Math.round(buf.length / 1e3 / ms), ratio: Math.round((buf.length / out) * 100) / 100 };
  });
  console.log(JSON.stringify({ text: name, bytes: buf.length, rows }));
}

const notes = [];
for (let i = 0; i < N; i++) notes.push(noteBody(i, 2048));
table(`${N} benchmark notes`, Buffer.from(notes.join("")));

const parts = [];
let total = 0;
for (const dir of dirs) {
  for (const path of markdown(dir)) {
    if (total > 20e6) break;
    const b = readFileSync(path);
    parts.push(b);
    total += b.length;
  }
}
const corpus = Buffer.concat(parts);
const sha256 = createHash("sha256").update(corpus).digest("hex");
table(`${parts.length} Markdown files under ${dirs.join(", ")} (sha256 ${sha256})`, corpus);
