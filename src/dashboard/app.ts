/**
 * The dashboard as a Hono app: the page, its JSON API, the live event stream and
 * `/metrics`. Runtime-agnostic (a fetch handler); `src/dashboard/serve.ts` serves it.
 *
 * @module
 */

import { Hono } from "hono";
import { gaugeLines, METRICS_CONTENT_TYPE, queueGauges } from "../consumer/metrics.ts";
import type { Dewey } from "../dewey.ts";
import type { DeweyEvent } from "../events/types.ts";
import { refusal } from "./auth.ts";
import { EventFeed } from "./feed.ts";
import { page } from "./page.ts";
import { counts, deadLetterView, periodicView, scheduledView } from "./views.ts";

/** Options of {@linkcode createDashboard}. */
export interface DashboardOptions {
  /** Required on every request when set. */
  token?: string;
  /** Refuse requests whose `Host` is not a loopback name (when bound to loopback). */
  loopbackOnly?: boolean;
  /** The task module's exports (periodic task wrappers give their schedules). */
  exports?: Record<string, unknown>;
  /** The storage's kind, as shown (never its options). */
  storageKind?: string;
  /** Epoch milliseconds now. @default Date.now */
  clock?: () => number;
}

/** A dashboard: its fetch handler, and `close` to stop following the event log. */
export interface Dashboard {
  /** The app (for tests: `app.request(path)`). */
  readonly app: Hono;
  /** Handles one request. */
  fetch(request: Request): Promise<Response>;
  /** The event feed behind the page. */
  readonly feed: EventFeed;
  /** Stops following the log and ends the open event streams. */
  close(): Promise<void>;
}

/** A nonce for the page's inline script. */
function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Builds the dashboard of `dewey`; it starts following the event log at once. */
export function createDashboard(dewey: Dewey, options: DashboardOptions = {}): Dashboard {
  const clock = options.clock ?? Date.now;
  const feed = new EventFeed(dewey, { clock });
  feed.start();
  const streams = new Set<() => void>();
  const access = { token: options.token, loopbackOnly: options.loopbackOnly ?? false };
  const app = new Hono();

  app.use("*", async (c, next) => {
    const refused = refusal(c.req.raw, access);
    if (refused) {
      return c.json({ error: refused.message }, refused.status as 401, SECURITY_HEADERS);
    }
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  });
  app.onError((error, c) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return c.json({ error: message }, 503);
  });

  app.get("/", (c) => {
    const scriptNonce = nonce();
    c.header(
      "content-security-policy",
      `default-src 'self'; script-src 'nonce-${scriptNonce}'; style-src 'unsafe-inline'; ` +
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    return c.html(page({ instance: dewey.name, storage: options.storageKind ?? "", scriptNonce }));
  });

  const showData = (c: { req: { query(name: string): string | undefined } }) =>
    c.req.query("show") === "data";

  app.get("/api/counts", async (c) => c.json(await counts(dewey, feed)));
  app.get("/api/stats", async (c) => {
    await feed.sync();
    return c.json(feed.stats());
  });
  app.get("/api/consumers", async (c) => {
    await feed.sync();
    return c.json(feed.consumers());
  });
  app.get("/api/events/recent", async (c) => {
    await feed.sync();
    return c.json(feed.recent(Number(c.req.query("limit") ?? 100) || 100));
  });
  app.get(
    "/api/scheduled",
    async (c) =>
      c.json(await scheduledView(dewey, showData(c), clock(), Number(c.req.query("limit") ?? 100))),
  );
  app.get(
    "/api/periodic",
    async (c) => c.json(await periodicView(dewey, options.exports ?? {}, clock())),
  );
  app.get("/api/dead-letters", async (c) => c.json(await deadLetterView(dewey, showData(c))));

  app.post("/api/scheduled/:id/revoke", async (c) => {
    await dewey.revokeById(c.req.param("id"));
    return c.json({ ok: true });
  });
  app.post("/api/scheduled/:id/restore", async (c) => {
    return c.json({ ok: await dewey.restoreById(c.req.param("id")) });
  });
  const periodicName = (name: string) => dewey.taskNames.includes(name);
  app.post("/api/periodic/:name/revoke", async (c) => {
    const name = c.req.param("name");
    if (!periodicName(name)) return c.json({ error: `unknown task "${name}"` }, 404);
    await dewey.revokeAll(name);
    return c.json({ ok: true });
  });
  app.post("/api/periodic/:name/restore", async (c) => {
    const name = c.req.param("name");
    if (!periodicName(name)) return c.json({ error: `unknown task "${name}"` }, 404);
    return c.json({ ok: await dewey.restoreAll(name) });
  });
  app.post("/api/dead-letters/purge", async (c) => {
    return c.json({ purged: await dewey.purgeDeadLetters() });
  });
  app.post("/api/dead-letters/:id/requeue", async (c) => {
    const id = c.req.param("id");
    if (!await dewey.requeueDeadLetter(id)) {
      return c.json({ error: `no dead letter with id "${id}"` }, 404);
    }
    return c.json({ ok: true });
  });

  app.get("/api/events", () => {
    const encoder = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (event: DeweyEvent) =>
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        controller.enqueue(encoder.encode("retry: 2000\n\n"));
        for (const event of feed.recent(50)) send(event);
        const unsubscribe = feed.subscribe(send);
        // A comment now and then keeps proxies from closing an idle stream.
        const keepAlive = setInterval(
          () => controller.enqueue(encoder.encode(": ping\n\n")),
          15_000,
        );
        const end = () => {
          stop();
          try {
            controller.close();
          } catch {
            // Already closed.
          }
        };
        stop = () => {
          unsubscribe();
          clearInterval(keepAlive);
          streams.delete(end);
        };
        streams.add(end);
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "x-accel-buffering": "no",
      },
    });
  });

  app.get("/metrics", async (c) => {
    await feed.sync();
    const gauges = [
      ...await queueGauges(dewey),
      {
        name: "dewey_consumers",
        help: "Live consumers (from heartbeats).",
        value: feed.consumers().length,
      },
      {
        name: "dewey_events_dropped",
        help: "Events consumers dropped (full buffer).",
        value: feed.dropped,
      },
    ];
    const text = [...feed.metrics.lines(dewey.name), ...gaugeLines(dewey.name, gauges)].join("\n");
    return c.body(`${text}\n`, 200, { "content-type": METRICS_CONTENT_TYPE });
  });

  return {
    app,
    feed,
    fetch: async (request) => await app.fetch(request),
    async close() {
      for (const end of [...streams]) end();
      await feed.stop();
    },
  };
}
