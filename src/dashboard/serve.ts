/**
 * Serves a fetch handler (`(Request) => Response`, e.g. a Hono app's `fetch`) over
 * `node:http`, which Deno, Bun and Node all implement: one small bridge instead of an
 * adapter per runtime. Response bodies stream (server-sent events work), and a client that
 * goes away cancels its body.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Buffer } from "node:buffer";

/** A running server. */
export interface HttpServer {
  /** The port it listens on (the chosen one when port 0 was asked for). */
  readonly port: number;
  /** The host it listens on. */
  readonly host: string;
  /** Stops listening and ends open connections (streams included). */
  close(): Promise<void>;
}

/** A fetch-style request handler. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

function toRequest(req: IncomingMessage, host: string, port: number): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const authority = headers.get("host") ?? `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const url = new URL(req.url ?? "/", `http://${authority}`);
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const abort = new AbortController();
  req.once("close", () => abort.abort());
  return new Request(url, {
    method,
    headers,
    signal: abort.signal,
    body: hasBody
      ? new ReadableStream({
        start(controller) {
          req.on("data", (chunk: Uint8Array) => controller.enqueue(new Uint8Array(chunk)));
          req.on("end", () => controller.close());
          req.on("error", (error) => controller.error(error));
        },
      })
      : undefined,
    // @ts-ignore: Node's fetch needs it for a streamed body; Deno and Bun ignore it.
    duplex: "half",
  });
}

async function send(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === "set-cookie") headers[name] = [...(headers[name] ?? []), value];
    else headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  res.once("close", cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(Buffer.from(value));
    }
  } catch {
    // The client went away or the body failed: nothing more to send.
  } finally {
    res.off("close", cancel);
    res.end();
  }
}

/** Serves `handler` on `host:port`; resolves once it listens. */
export function serveHttp(
  handler: FetchHandler,
  options: { port: number; host: string },
): Promise<HttpServer> {
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((req, res) => {
    const address = server.address() as AddressInfo;
    Promise.resolve()
      .then(() => handler(toRequest(req, options.host, address.port)))
      .then((response) => send(response, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("internal error\n");
      });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      resolve({
        port: address.port,
        host: options.host,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      });
    });
  });
}
