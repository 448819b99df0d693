/**
 * The lease's own connection (store/lease.ts): one, opened at its first use, so that renewing never
 * waits for a slot of the store's pool. The store takes and renews the lease through it; a worker
 * thread renews it on one of its own (tracker/lease_worker.ts), from where renewalSource() says.
 */
import type postgres from "postgres";
import type { Fence, LeaseState } from "./lease.ts";
import { connectionBroken, openPool } from "./postgres_pool.ts";
import { storeError } from "./store_error.ts";

/**
 * The lease's connection waits at most this for the lease's row (a write holding it, or a tracker cut off
 * mid-transaction), and a lease statement runs at most LEASE_STATEMENT_TIMEOUT_MS: the lease is tried again
 * at its next turn rather than hung on.
 */
const LEASE_LOCK_TIMEOUT_MS = 2000;
const LEASE_STATEMENT_TIMEOUT_MS = 5000;
/** Beyond the statement's own timeout, the wait for its answer before the connection is given up. */
const LEASE_ANSWER_SLACK_MS = 1000;

export class PostgresLease {
  #url: string;
  #settings: postgres.Options<Record<string, never>>;
  #sql: postgres.Sql | null = null;

  constructor(url: string, settings: postgres.Options<Record<string, never>>) {
    this.#url = url;
    this.#settings = settings;
  }

  /**
   * A statement on the lease's own connection (one, opened at its first use, so that renewing never waits
   * for a pool slot), bounded: the server ends it after LEASE_STATEMENT_TIMEOUT_MS, and if no answer comes
   * at all (the connection is cut without a word) the connection is dropped, so that nothing queues
   * behind it, and the next statement opens another.
   */
  async #onLease<T>(body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = this.#sql ??= openPool(this.#url, {
      ...this.#settings,
      connection: {
        ...this.#settings.connection,
        lock_timeout: LEASE_LOCK_TIMEOUT_MS,
        statement_timeout: LEASE_STATEMENT_TIMEOUT_MS,
      },
      max: 1,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (this.#sql === sql) this.#sql = null;
        sql.end({ timeout: 0 }).catch(() => {});
        reject(new Error(`no answer within ${LEASE_STATEMENT_TIMEOUT_MS + LEASE_ANSWER_SLACK_MS} ms`));
      }, LEASE_STATEMENT_TIMEOUT_MS + LEASE_ANSWER_SLACK_MS);
    });
    try {
      return await Promise.race([body(sql), silent]);
    } catch (error) {
      if (connectionBroken(error) && this.#sql === sql) {
        this.#sql = null;
        sql.end({ timeout: 0 }).catch(() => {});
      }
      throw storeError("read the lease", error);
    } finally {
      clearTimeout(timer);
    }
  }

  acquire(holder: string, ms: number): Promise<LeaseState | null> {
    return this.#onLease(async (sql) => {
      // A lease another tracker holds is only looked at: the takeover below locks the row, and a
      // follower waiting there behind the leader's long fenced write would queue the leader's own
      // renewal behind it (a row's lockers wait in turn).
      const [held] = await sql`
        SELECT holder, epoch, expires_at - fabric_now_ms() AS remaining FROM leases WHERE name = 'leader'`;
      if (held && held.holder !== holder && Number(held.remaining) > 0) return leaseState(held);
      // Taken when it has expired or is already `holder`'s; either way under a new epoch. Else the row
      // as it is (from the statement's snapshot: null if another tracker inserted it meanwhile).
      const rows = await sql`
        WITH t AS (SELECT fabric_now_ms() AS now),
        taken AS (
          INSERT INTO leases (name, holder, epoch, expires_at) SELECT 'leader', ${holder}, 1, t.now + ${ms} FROM t
          ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1,
            expires_at = excluded.expires_at
          WHERE leases.expires_at <= excluded.expires_at - ${ms} OR leases.holder = excluded.holder
          RETURNING holder, epoch, expires_at)
        SELECT holder, epoch, expires_at - t.now AS remaining FROM taken, t
        UNION ALL
        SELECT holder, epoch, expires_at - t.now FROM leases, t
        WHERE name = 'leader' AND NOT EXISTS (SELECT 1 FROM taken)`;
      return rows.length === 0 ? null : leaseState(rows[0]);
    });
  }

  renew(fence: Fence, ms: number): Promise<LeaseState | null> {
    return this.#onLease(async (sql) => {
      const rows = await sql`
        WITH t AS (SELECT fabric_now_ms() AS now)
        UPDATE leases SET expires_at = t.now + ${ms} FROM t
        WHERE name = 'leader' AND holder = ${fence.holder} AND epoch = ${fence.epoch} AND expires_at > t.now
        RETURNING holder, epoch, expires_at - t.now AS remaining`;
      return rows.length === 0 ? null : leaseState(rows[0]);
    });
  }

  release(fence: Fence): Promise<void> {
    return this.#onLease(async (sql) => {
      await sql`
        UPDATE leases SET expires_at = 0 WHERE name = 'leader' AND holder = ${fence.holder} AND epoch = ${fence.epoch}`;
    });
  }

  async close(): Promise<void> {
    const sql = this.#sql;
    this.#sql = null;
    await sql?.end({ timeout: 5 });
  }
}

function leaseState(row: postgres.Row): LeaseState {
  return { holder: String(row.holder), epoch: Number(row.epoch), remainingMs: Number(row.remaining) };
}
