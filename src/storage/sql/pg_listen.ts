/**
 * PostgreSQL `LISTEN` for `waitForMessage`: one connection per storage, held while the
 * storage is open, on which enqueues by any process (`pg_notify`) arrive at once.
 *
 * @module
 */

/**
 * What Dewey needs of a `pg` `Pool` (structural, so `pg` is not imported): a connection
 * it can keep for `LISTEN`. A `pg.Pool` is one.
 *
 * @example A sketch (not run here: it needs a server)
 * ```ts
 * import { Kysely, PostgresDialect } from "kysely";
 * import pg from "pg";
 * import { type ListenPool, SqlStorage } from "@dewey/dewey/sqlite";
 *
 * export function listeningStorage(url: string): SqlStorage {
 *   const pool = new pg.Pool({ connectionString: url });
 *   const listen: ListenPool = pool;
 *   return new SqlStorage({ db: new Kysely<any>({ dialect: new PostgresDialect({ pool }) }), listen });
 * }
 * ```
 */
export interface ListenPool {
  /** Checks a client out of the pool. */
  connect(): Promise<ListenClient>;
}

/**
 * What Dewey needs of a `pg` `PoolClient`.
 *
 * @example A stand-in, e.g. for a test without a server
 * ```ts
 * import type { ListenClient, ListenPool } from "@dewey/dewey/sqlite";
 *
 * const client: ListenClient = {
 *   query: () => Promise.resolve(),
 *   on: () => client,
 *   release: () => {},
 * };
 * const pool: ListenPool = { connect: () => Promise.resolve(client) };
 * console.log(typeof pool.connect); // "function"
 * ```
 */
export interface ListenClient {
  /** Runs one statement (`LISTEN "channel"`). */
  query(text: string): Promise<unknown>;
  /** Notifications arrive as events, as do connection errors. */
  on(event: "notification", listener: (message: { channel: string }) => void): unknown;
  /** A connection error; the listener reconnects on the next wait. */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Returns the client; `true` closes its connection instead of pooling it. */
  release(destroy?: boolean): void;
}

/** Shares one listening connection among the waits of one storage. */
export class PgListener {
  readonly #pool: ListenPool;
  readonly #channel: string;
  readonly #onChange = new Set<() => void>();
  #client?: Promise<ListenClient>;

  constructor(pool: ListenPool, channel: string) {
    this.#pool = pool;
    this.#channel = channel;
  }

  /** Calls `onChange` on each notification until the returned function is called. */
  async watch(onChange: () => void): Promise<(() => void) | undefined> {
    try {
      await this.#connect();
    } catch {
      return undefined; // the wait falls back to its timeout; the next one retries
    }
    this.#onChange.add(onChange);
    return () => this.#onChange.delete(onChange);
  }

  /** Closes the listening connection (a pooled client still listening would get stray notifications). */
  async close(): Promise<void> {
    const client = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    client?.release(true);
  }

  #connect(): Promise<ListenClient> {
    this.#client ??= (async () => {
      const client = await this.#pool.connect();
      client.on("notification", ({ channel }) => {
        if (channel === this.#channel) { for (const onChange of [...this.#onChange]) onChange(); }
      });
      client.on("error", () => {
        // A broken connection: wake the waiters (they re-check) and reconnect next time.
        this.#client = undefined;
        client.release(true);
        for (const onChange of [...this.#onChange]) onChange();
      });
      try {
        await client.query(`listen "${this.#channel}"`);
      } catch (error) {
        client.release(true);
        throw error;
      }
      return client;
    })().catch((error) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }
}
