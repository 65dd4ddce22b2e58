// What a Yjs client pays to receive a vault as K frames it must keep pending
// until a last frame completes them (the one-transaction fresh sync), beside
// the same vault as K frames it integrates on arrival, and as one frame. No
// server: one client writes N notes in K batches; frame i is the diff between
// the batch states, and the client's first struct (a one-character note
// written before the batches) is held back to a last frame, as the server
// holds back each client's first struct. Prints the median over --runs of
// the whole receive and of its largest frame, per K.
//
//   node tests/bench/pending-cost.mjs [--notes 10000] [--frames 1,2,3,6] [--runs 3]
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { Y, addNote } from "../e2e/clients.mjs";
import { noteBody, notePath } from "./content.mjs";

const { values: opts } = parseArgs({ options: {
  notes: { type: "string", default: "10000" },
  frames: { type: "string", default: "1,2,3,6" },
  runs: { type: "string", default: "3" },
} });
const N = Number(opts.notes);
const RUNS = Number(opts.runs);

/** K pieces of an N-note vault by one client, and the held-back first struct. */
function vault(k) {
  const doc = new Y.Doc();
  addNote(doc, "first.md", "x");
  const first = Y.encodeStateAsUpdate(doc);
  const pieces = [];
  let sv = Y.encodeStateVector(doc);
  for (let b = 0; b < k; b++) {
    doc.transact(() => {
      for (let i = Math.floor((b * N) / k); i < Math.floor(((b + 1) * N) / k); i++) addNote(doc, notePath(i), noteBody(i, 2048));
    });
    pieces.push(Y.encodeStateAsUpdate(doc, sv));
    sv = Y.encodeStateVector(doc);
  }
  return { first, pieces, whole: Y.encodeStateAsUpdate(doc) };
}

function receive(frames) {
  const doc = new Y.Doc();
  let transactions = 0;
  doc.on("afterTransaction", () => { transactions++; });
  const costs = frames.map((f) => { const t = performance.now(); Y.applyUpdate(doc, f); return performance.now() - t; });
  return { total: costs.reduce((a, b) => a + b, 0), largest: Math.max(...costs), transactions };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const k of opts.frames.split(",").map(Number)) {
  const { first, pieces, whole } = vault(k);
  const shapes = {
    pending: [...pieces, first], // nothing integrates before the last frame
    onArrival: [first, ...pieces], // each frame integrates as it arrives
  };
  for (const [shape, frames] of Object.entries(shapes)) {
    const runs = Array.from({ length: RUNS }, () => receive(frames));
    rows.push({ frames: k, shape, totalMs: Math.round(median(runs.map((r) => r.total))), largestFrameMs: Math.round(median(runs.map((r) => r.largest))), transactions: runs[0].transactions, mb: +(whole.length / 1e6).toFixed(1) });
  }
}
const one = Array.from({ length: RUNS }, () => receive([vault(1).whole]));
rows.push({ frames: 1, shape: "oneStep2", totalMs: Math.round(median(one.map((r) => r.total))), transactions: one[0].transactions });
for (const r of rows) console.log(JSON.stringify(r));
