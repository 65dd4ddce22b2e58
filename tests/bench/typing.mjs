// The typing workload of the write-budget issue: one device types K
// keystrokes at R a second, each its own transaction (as an editor binding
// sends them), into one note, while a second device watches. Prints one JSON
// line: the server's saves and SQL rows written per 1,000 keystrokes (the
// compaction the alarm runs after the typing included), the acknowledgement
// latency (keystroke → first echo covering it) and the edit → watcher
// latency, p50/p99, and how many hours of such typing a day fit in the free
// plan's 100,000 rows written.
//
//   scripts/bench.sh --typing [--keystrokes 1000] [--rate 10] [--window MS]
//                    [--server-config PATH]
//
// --window sets YAOS_COMMIT_WINDOW_MS (unset: the server's default);
// --server-config runs another server (the TypeScript one's debug JSON has
// no row counts: those come out null).
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { loadavg } from "node:os";
import { startServer, tempDir } from "../e2e/harness.mjs";
import { Y, connectClient, addNote, echoedStateVector, until, docUntil } from "../e2e/clients.mjs";
import { summarize } from "./metrics.mjs";

const { values: opts } = parseArgs({
  options: {
    keystrokes: { type: "string", default: "1000" },
    rate: { type: "string", default: "10" },
    window: { type: "string" },
    "server-config": { type: "string" },
  },
});
const KEYSTROKES = Number(opts.keystrokes);
const RATE = Number(opts.rate);
const SERVER_CONFIG = opts["server-config"] === undefined ? null : resolve(opts["server-config"]);
const TOKEN = "bench-token-0123456789abcdef0123456789";
const VAULT = "typing-vault";
const log = (...args) => console.error("[typing]", ...args);

// null binds nothing: the server's default window (the harness would
// otherwise set 0 for this server).
const vars = { SYNC_TOKEN: TOKEN, YAOS_COMMIT_WINDOW_MS: opts.window ?? null };
const loadAtStart = Math.round(loadavg()[0] * 100) / 100;
const server = await startServer({ persistDir: tempDir("yaos-typing-"), vars, config: SERVER_CONFIG });
const clients = [];
try {
  const debug = async () => {
    const res = await fetch(`${server.url}/vault/${VAULT}/debug/recent`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    return res.json();
  };
  const typist = connectClient(server, VAULT, { token: TOKEN });
  const watcher = connectClient(server, VAULT, { token: TOKEN });
  clients.push(typist, watcher);
  await Promise.all([typist.synced(), watcher.synced()]);
  const id = addNote(typist.doc, "typed.md", "");
  await docUntil(watcher.doc, (d) => d.getMap("idToText").get(id) !== undefined, 15_000, "the note at the watcher");
  // Let the note's own save and echo pass before counting.
  await until(typist.provider, "custom-message", () => typist.echoes.length > 0, 15_000, "the note's echo");
  const before = await debug();
  const me = typist.doc.clientID;
  const text = typist.doc.getMap("idToText").get(id);
  const watched = watcher.doc.getMap("idToText").get(id);

  // Keystroke i is acknowledged when an echo's clock for the typist reaches
  // the clock after it; the watcher has it when its text is that long.
  const sentAt = [];
  const clockAfter = [];
  const ackMs = [];
  const peerMs = [];
  let acked = 0;
  typist.provider.on("custom-message", () => {
    const clock = echoedStateVector(typist.echoes.at(-1)).get(me) ?? 0;
    const now = performance.now();
    while (acked < clockAfter.length && clockAfter[acked] <= clock) ackMs.push(now - sentAt[acked++]);
  });
  watched.observe(() => {
    const now = performance.now();
    while (peerMs.length < sentAt.length && watched.length > peerMs.length) peerMs.push(now - sentAt[peerMs.length]);
  });
  const interval = 1000 / RATE;
  const start = performance.now();
  for (let i = 0; i < KEYSTROKES; i++) {
    // The pace: keystroke i at start + i × interval (a schedule, not a synchronisation).
    const wait = start + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sentAt.push(performance.now());
    text.insert(text.length, "abcdefghij"[i % 10]);
    clockAfter.push(Y.decodeStateVector(Y.encodeStateVector(typist.doc)).get(me));
  }
  await until(typist.provider, "custom-message", () => acked === KEYSTROKES, 30_000, "every keystroke acknowledged");
  // The compaction the typing made due runs from an alarm after 2 s of quiet.
  let after = await debug();
  for (let i = 0; i < 100 && after.room?.compactionDue; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await debug();
  }
  const per1000 = (n) => (n === null || n === undefined ? null : Math.round((n * 1000 * 10) / KEYSTROKES) / 10);
  const saves = after.persistence.successfulSaveCount - before.persistence.successfulSaveCount;
  const rows = after.budget && before.budget
    ? after.budget.sqlRowsWrittenSinceActivation - before.budget.sqlRowsWrittenSinceActivation
    : null;
  const rowsPerKeystroke = rows === null ? null : rows / KEYSTROKES;
  console.log(JSON.stringify({
    keystrokes: KEYSTROKES,
    rate: RATE,
    commitWindowMs: after.budget?.commitWindowMs ?? null,
    savesPer1000: per1000(saves),
    rowsWrittenPer1000: per1000(rows), // SQL and key-value (traces) rows
    // Continuous typing at this rate within 100,000 rows written a day.
    hoursPerDayWithinFreePlan: rowsPerKeystroke ? Math.round((100_000 / rowsPerKeystroke / RATE / 3600) * 10) / 10 : null,
    ackLatencyMs: summarize(ackMs),
    peerLatencyMs: summarize(peerMs),
    compactions: after.persistence.lastCompactionAt !== before.persistence.lastCompactionAt,
    loadAtStart,
    // A panic or wasm reset would restart the counts (and lose the window).
    crashLines: server.crashLines(),
  }));
} finally {
  for (const c of clients) c.close();
  await server.stop();
}
