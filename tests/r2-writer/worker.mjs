// PUT /<key> stores the body under <key> with the request's Content-Type;
// GET /<key> answers it back; GET / is the readiness probe.
export default {
  async fetch(req, env) {
    const key = decodeURIComponent(new URL(req.url).pathname.slice(1));
    if (!key) return new Response("ready");
    if (req.method === "PUT") {
      const contentType = req.headers.get("Content-Type") ?? undefined;
      await env.YAOS_BUCKET.put(key, await req.arrayBuffer(), { httpMetadata: contentType ? { contentType } : undefined });
      return new Response(null, { status: 204 });
    }
    const object = await env.YAOS_BUCKET.get(key);
    return object ? new Response(object.body) : new Response("missing", { status: 404 });
  },
};
