/**
 * An edge producer: a Cloudflare-Workers-style fetch handler that enqueues a task on
 * Upstash Redis over its REST API (one `EVALSHA` over HTTPS per enqueue, no TCP), and
 * answers the task id. A consumer on a server runs the task from the same Redis over TCP
 * (see `examples/edge_tasks.ts`), and anyone can read the result by id.
 *
 * ```sh
 * curl -X POST https://<your worker>/ -d '{"a": 1, "b": 2}'   # {"id":"…"}
 * ```
 *
 * Bundle it for the browser platform (`bun build examples/edge_producer.ts
 * --target=browser --format=esm`) and give the Worker the variables
 * `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN` (secrets). Nothing here needs
 * Node APIs: `mod.ts` and the REST path of `redis.ts` use only `fetch` and Web APIs.
 *
 * @module
 */

import { RedisStorage } from "../redis.ts";
import { edgeApp } from "./edge_tasks.ts";

/** The Worker's bindings. */
export interface Env {
  /** The database's REST URL, `https://…upstash.io`. */
  UPSTASH_REDIS_REST_URL: string;
  /** Its REST token. */
  UPSTASH_REDIS_REST_TOKEN: string;
}

/** Built on the first request (bindings arrive with requests) and reused afterwards. */
let app: ReturnType<typeof edgeApp> | undefined;

export default {
  /** `POST {"a": number, "b": number}` → `{"id": "<task id>"}`. */
  async fetch(request: Request, env: Env): Promise<Response> {
    const body = request.method === "POST" ? await request.json().catch(() => null) : null;
    if (typeof body?.a !== "number" || typeof body?.b !== "number") {
      return Response.json({ error: 'POST a JSON body {"a": number, "b": number}' }, {
        status: 400,
      });
    }
    app ??= edgeApp(
      new RedisStorage({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN }),
    );
    const result = await app.add(body.a, body.b); // enqueued: one round trip to Upstash
    return Response.json({ id: result.id });
  },
};
