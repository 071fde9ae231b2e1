/**
 * The dashboard's access rules. With a token, every request needs it: `Authorization:
 * Bearer <token>`, or for a GET (the page itself, its event stream) `?token=<token>`.
 * Every state-changing request is a POST with a JSON body type, which a page of another
 * site cannot send without the browser asking first (and nothing here answers that), and
 * on loopback the `Host` must be a loopback name, which stops DNS rebinding.
 *
 * @module
 */

/** Whether `host` (a name or address to bind) is a loopback one. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Compares two strings in time that depends only on their lengths. */
export function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Why a request is refused: status and message; `undefined` lets it through. */
export function refusal(
  request: Request,
  options: { token?: string; loopbackOnly: boolean },
): { status: number; message: string } | undefined {
  const url = new URL(request.url);
  if (options.loopbackOnly) {
    const host = url.hostname;
    if (!isLoopback(host)) return { status: 403, message: "forbidden host" };
  }
  if (options.token !== undefined) {
    const header = request.headers.get("authorization") ?? "";
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const query = request.method === "GET" ? url.searchParams.get("token") ?? undefined : undefined;
    const given = bearer ?? query;
    if (given === undefined || !sameSecret(given, options.token)) {
      return { status: 401, message: "missing or wrong token" };
    }
  }
  if (request.method === "GET" || request.method === "HEAD") return undefined;
  if (request.method !== "POST") return { status: 405, message: "method not allowed" };
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    return { status: 415, message: "a POST needs content-type application/json" };
  }
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== url.origin) return { status: 403, message: "cross-origin" };
  return undefined;
}
