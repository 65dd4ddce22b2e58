// Servers and clients a test file starts, remembered so that they are
// stopped and closed when the file's tests end, however they end: a failed
// assertion leaves its client reconnecting and its server running, and node
// would wait on them for ever. Each file used to keep its own two sets, its
// own `after` hook and its own start and connect helpers; they are here once.
import { after } from "node:test";
import { startServer } from "./harness.mjs";
import { connectClient } from "./clients.mjs";

/**
 * Call once, at module level: the `after` hook it registers then runs when
 * the file's tests are done (called inside a test, it would run when that
 * test is). Every server started binds SYNC_TOKEN: `token` and `vars`, with
 * a start's own `vars` laid over them; `connect` syncs `vault` unless given
 * another, with `token`. The functions returned need no `this`.
 */
export function tracked({ token, vault, vars = {} }) {
  const servers = new Set();
  const clients = new Set();
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
  });
  return {
    /** startServer with these `options`; stopped at the end unless stopped or killed before. */
    async start(options = {}) {
      const server = await startServer({ ...options, vars: { SYNC_TOKEN: token, ...vars, ...options.vars } });
      servers.add(server);
      return server;
    },
    async stop(server) {
      await server.stop();
      servers.delete(server);
    },
    /** server.killWorkerd(pids): a SIGKILL, no graceful shutdown. */
    async kill(server, pids) {
      await server.killWorkerd(pids);
      servers.delete(server);
    },
    /** connectClient with the token; `options.vault` overrides the default vault. */
    connect(server, { vault: vaultId = vault, ...options } = {}) {
      const client = connectClient(server, vaultId, { token, ...options });
      clients.add(client);
      return client;
    },
    close(client) {
      client.close();
      clients.delete(client);
    },
  };
}
