/**
 * The PostgreSQL store's pool: opened on a migrated schema, replaced by a new one when its connection
 * breaks, ended once. Every read of the store runs through `read`, which names what failed.
 */
import type postgres from "postgres";
import { FabricError } from "../protocol/mod.ts";
import { migratePostgres } from "./postgres_migrations.ts";
import { connectionBroken, openPool, poolSettings } from "./postgres_pool.ts";
import type { StoreSync } from "./sqlite.ts";
import { storeError } from "./store_error.ts";

/** Connections a tracker opens: one writes at a time, the others read. */
export const POSTGRES_CONNECTIONS = 4;

type Settings = postgres.Options<Record<string, never>>;

export class PostgresStorePool {
  /** The URL without its password: for messages. */
  readonly where: string;
  readonly url: string;
  /** Every connection's settings (the lease's own connection has the same: postgres_lease.ts). */
  readonly settings: Settings;
  #sql: postgres.Sql;
  #closed = false;

  private constructor(url: string, where: string, settings: Settings, sql: postgres.Sql) {
    this.url = url;
    this.where = where;
    this.settings = settings;
    this.#sql = sql;
  }

  /** Connect to `url` and migrate its schema (creating it on an empty database); a failure names the store, redacted. */
  static async open(
    url: string,
    options: { sync?: StoreSync; applicationName?: string },
  ): Promise<PostgresStorePool> {
    const where = redactUrl(url);
    const settings = poolSettings(options);
    let sql: postgres.Sql;
    try {
      sql = openPool(url, { ...settings, max: POSTGRES_CONNECTIONS });
    } catch (error) {
      throw new FabricError("bad_request", `Cannot use the store ${where}: ${messageOf(error)}`);
    }
    try {
      await migratePostgres(sql, where);
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (error instanceof FabricError) throw error;
      throw new FabricError("unavailable", `Cannot open the store ${where}: ${messageOf(error)}`);
    }
    return new PostgresStorePool(url, where, settings, sql);
  }

  /** The pool now: a statement that fails on it hands it back to `dropIfBroken`. */
  get sql(): postgres.Sql {
    return this.#sql;
  }

  /** `body` on the pool; its failure is the store's ("The store could not read WHAT: ..."). */
  async read<T>(what: string, body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = this.#sql;
    try {
      return await body(sql);
    } catch (error) {
      this.dropIfBroken(sql, error);
      throw storeError(`read ${what}`, error);
    }
  }

  /**
   * After a failure of the connection itself (the server restarting, the network cut), the pool is
   * replaced by a new one, and the old one ended at once (what still waits on it fails, to be tried
   * again). postgres.js's own reconnection, after a restart of PostgreSQL, left queries hanging for up
   * to 16 s and then failing with "the database system is shutting down" (measured here: five clients
   * querying through a 4 s restart); with the pool replaced, none took over 1.5 s.
   */
  dropIfBroken(sql: postgres.Sql, error: unknown): void {
    if (this.#closed || this.#sql !== sql || !connectionBroken(error)) return;
    this.#sql = openPool(this.url, { ...this.settings, max: POSTGRES_CONNECTIONS });
    sql.end({ timeout: 0 }).catch(() => {});
  }

  /**
   * Closed at once (a pool that breaks from now on is not replaced), ended once `pending` (the writes in
   * flight) is done.
   */
  async close(pending: Promise<void>): Promise<void> {
    this.#closed = true;
    await pending;
    await this.#sql.end({ timeout: 5 });
  }
}

/** `url` with its password replaced by "***": what messages and logs show. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function messageOf(error: unknown): string {
  const e = error as { message?: string; code?: string };
  return e?.message || e?.code || String(error);
}
