// Real clients for the end-to-end tests: yjs documents synced through the
// y-partyserver 2.1.4 provider, connected the way the YAOS plugin connects
// (spec 8.1), plus helpers that build plugin-shaped vault content.
import * as Y from "yjs";
import YProvider from "y-partyserver/provider";
import WebSocket from "ws";

export { Y };

/** A lib0 varuint, as the byte values of a frame being built by hand. */
export function varuint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}

/** Resolves when `pred()` holds, re-checking on every event of `emitter`; rejects after `ms`. */
export function until(emitter, event, pred, ms = 15000, what = event) {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const timer = setTimeout(() => { emitter.off(event, check); reject(new Error(`timed out waiting for ${what}`)); }, ms);
    const check = () => { if (pred()) { clearTimeout(timer); emitter.off(event, check); resolve(); } };
    emitter.on(event, check);
  });
}

/**
 * Connects a provider to `/vault/sync/<vaultId>`. Records every `__YPS:`
 * custom message; `echoes` holds parsed SV echoes in arrival order.
 */
/**
 * A client the way the plugin connects (y-partyserver's provider over `ws`).
 * `maxPayload` caps the size of one incoming message, as a platform or
 * proxy may: a larger one closes the socket (1009). `frameSizes`, an array,
 * receives the size of every binary message the client gets.
 * `perMessageDeflate: false` stops the client offering compression (`ws`
 * offers it by default, as browsers do).
 */
export function connectClient(server, vaultId, { token, ticket, schemaVersion = "3", doc = new Y.Doc(), connect = true, maxPayload, frameSizes, perMessageDeflate, device } = {}) {
  const params = { schemaVersion };
  if (device !== undefined) params.device = device; // as the plugin sends it with its debug tracing on
  if (ticket !== undefined) params.ticket = ticket;
  else if (token !== undefined) params.token = token;
  const provider = new YProvider(server.url.replace("http://", ""), vaultId, doc, {
    prefix: `/vault/sync/${encodeURIComponent(vaultId)}`,
    params,
    WebSocketPolyfill: maxPayload === undefined && !frameSizes && perMessageDeflate === undefined
      ? WebSocket : measuredWebSocket({ maxPayload, perMessageDeflate }, frameSizes),
    disableBc: true,
    connect,
  });
  const client = { doc, provider, customMessages: [], echoes: [] };
  provider.on("custom-message", (raw) => {
    client.customMessages.push(raw);
    try {
      const msg = JSON.parse(raw);
      if (msg.type === "yaos/sv-echo") client.echoes.push(msg);
    } catch {}
  });
  client.synced = () => until(provider, "synced", () => provider.synced, 15000, "synced");
  client.close = () => { provider.disconnect(); provider.destroy(); };
  return client;
}

function measuredWebSocket(options, frameSizes) {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, defined);
      if (frameSizes) this.on("message", (data, isBinary) => { if (isBinary) frameSizes.push(data.byteLength ?? data.length); });
    }
  };
}

/** Resolves once a postApply echo covers everything `client` has written. */
export function coveringEcho(client, ms = 15000, what = "a covering echo") {
  const mine = Y.decodeStateVector(Y.encodeStateVector(client.doc));
  return until(client.provider, "custom-message", () => client.echoes.some((e) => dominates(echoedStateVector(e), mine)), ms, what);
}

/** Waits until the client has received at least `n` SV echoes. */
export function echoCount(client, n, ms = 15000) {
  return until(client.provider, "custom-message", () => client.echoes.length >= n, ms, `${n} echoes`);
}

/** Resolves when `pred(doc)` holds after some update to `doc`. */
export function docUntil(doc, pred, ms = 15000, what = "doc condition") {
  return until(doc, "update", () => pred(doc), ms, what);
}

/** Decodes an echo's base64 state vector into a Map(clientId -> clock). */
export function echoedStateVector(echo) {
  return Y.decodeStateVector(Uint8Array.from(Buffer.from(echo.sv, "base64")));
}

/** True when state vector `a` covers every clock of `b`. */
export function dominates(a, b) {
  for (const [client, clock] of b) if ((a.get(client) ?? 0) < clock) return false;
  return true;
}

/** Adds a note the way the plugin's schema v3 lays it out. */
export function addNote(doc, path, text, fileId = `id-${path}`) {
  doc.transact(() => {
    const meta = new Y.Map();
    doc.getMap("meta").set(fileId, meta);
    meta.set("path", path);
    meta.set("mtime", 1_700_000_000_000);
    doc.getMap("pathToId").set(path, fileId);
    const ytext = new Y.Text();
    doc.getMap("idToText").set(fileId, ytext);
    ytext.insert(0, text);
    doc.getMap("sys").set("schemaVersion", 3);
  });
  return fileId;
}

/** The note's text, or undefined. */
export function noteText(doc, fileId) {
  return doc.getMap("idToText").get(fileId)?.toString();
}

/** The vault's root maps as plain JSON (every root the plugin uses). */
export function vaultJson(doc) {
  const out = {};
  for (const name of ["meta", "pathToId", "idToText", "pathToBlob", "sys"]) out[name] = doc.getMap(name).toJSON();
  return out;
}

/** JSON with object keys sorted, so map iteration order does not matter. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

/** True when two documents hold the same vault content. */
export function sameContent(a, b) {
  return JSON.stringify(canonical(vaultJson(a))) === JSON.stringify(canonical(vaultJson(b)));
}
