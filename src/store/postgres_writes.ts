/**
 * The PostgreSQL store's writes: batches in the order they were written (one at a time, each after the
 * last), retention's steps and channel writes beside them, and the copy that fills an empty store. On a
 * tracker's store each is fenced by the lease: refused before anything is sent without a fence, and a
 * LeaseLostError when fabric_fence refuses it in its transaction (another tracker leads now).
 */
import type postgres from "postgres";
import { type ChannelWrite, type ChannelWriteResult } from "./channels.ts";
import { type Fence, LeaseLostError } from "./lease.ts";
import { writePostgresChannel } from "./postgres_channels.ts";
import { copyInStatements } from "./postgres_copy.ts";
import { postgresPurgeOps } from "./postgres_purge.ts";
import { batchStatements } from "./postgres_rows.ts";
import { singleStatement } from "./postgres_single_statement.ts";
import type { Statement } from "./postgres_statement.ts";
import type { PostgresStorePool } from "./postgres_store_pool.ts";
import { fenceCall, fenceRefused, runStatement, runTransaction } from "./postgres_transaction.ts";
import { purgeRounds } from "./purge_rounds.ts";
import type { WriteBatch } from "./records.ts";
import { snapshotBatch } from "./batch_snapshot.ts";
import type { PurgeOptions, PurgeResult } from "./retention.ts";
import type { ExportPart } from "./sqlite_export.ts";
import { storeError } from "./store_error.ts";

export class PostgresWriter {
  #pool: PostgresStorePool;
  /** Every write must name its fence (PostgresStoreOptions.fenced). */
  #fenced: boolean;
  /** The write in progress: the next waits for it, so batches commit in the order they were written. */
  #writes: Promise<void> = Promise.resolve();

  constructor(pool: PostgresStorePool, options: { fenced: boolean }) {
    this.#pool = pool;
    this.#fenced = options.fenced;
  }

  /** Settled once every batch written so far has committed or failed (what closing waits for). */
  get settled(): Promise<void> {
    return this.#writes;
  }

  /**
   * Atomically persist a batch: all of it or none of it, after every batch written before it. With a
   * fence, the same transaction checks the lease (fabric_fence) and holds its row until it commits.
   */
  write(batch: WriteBatch, fence?: Fence): Promise<void> {
    if (this.#unfenced(fence)) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it writes nothing to the store"));
    }
    let sql = this.#pool.sql;
    // The batch as it is now (batch_snapshot.ts): one statement's rows are made here, a larger batch is
    // copied and its rows made as its transaction goes.
    let single: Statement | null;
    let later: WriteBatch | null;
    try {
      single = singleStatement(batch, fence && fenceCall(fence));
      later = single ? null : snapshotBatch(batch);
    } catch (error) {
      return Promise.reject(this.#writeError(sql, "write", error));
    }
    const done = this.#writes.then(() => {
      sql = this.#pool.sql;
      if (single) return runStatement(sql, single);
      return runTransaction(sql, batchStatements(later!), fence);
    });
    this.#writes = done.catch(() => {});
    return done.catch((error) => {
      throw this.#writeError(sql, "write", error);
    });
  }

  /** One bounded step of retention, in a transaction of its own beside the tracker's writes (it deletes only ended jobs' rows). */
  purgeExpired(options: PurgeOptions): Promise<PurgeResult> {
    const fence = options.fence;
    if (this.#unfenced(fence)) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it deletes nothing from the store"));
    }
    const sql = this.#pool.sql;
    return sql.begin(async (tx) => {
      if (fence) {
        const check = fenceCall(fence);
        await tx.unsafe(check.text, check.params.map((values, i) => tx.typed(values as never, check.oids[i])));
      }
      return purgeRounds(postgresPurgeOps(tx), options);
    }).catch((error) => {
      throw this.#writeError(sql, "delete expired jobs", error);
    });
  }

  writeChannel(write: ChannelWrite, fence?: Fence): Promise<ChannelWriteResult> {
    if (this.#unfenced(fence)) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it writes nothing to the store"));
    }
    const sql = this.#pool.sql;
    return writePostgresChannel(sql, write, fence).catch((error) => {
      throw this.#writeError(sql, "write a channel", error);
    });
  }

  /**
   * Fill an empty store: every batch `source` yields, and `secrets`, in one transaction, so a copy
   * that fails leaves the store empty. Memory holds one batch at a time. Refused (and nothing
   * written) if the store holds anything once the copy has its lock.
   */
  copyIn(source: AsyncIterable<ExportPart>, secrets: Record<string, string>): Promise<void> {
    const statements = copyInStatements(source, secrets);
    const done = this.#writes.then(() => runTransaction(this.#pool.sql, statements));
    this.#writes = done.catch(() => {});
    return done;
  }

  /** A write without a fence, on a tracker's store: refused before anything is sent. */
  #unfenced(fence: Fence | undefined): boolean {
    return !fence && this.#fenced;
  }

  /** A failed write's error: a fence refused means another tracker leads now (the tracker steps down). */
  #writeError(sql: postgres.Sql, what: string, error: unknown): Error {
    this.#pool.dropIfBroken(sql, error);
    if (fenceRefused(error)) return new LeaseLostError(`This tracker no longer leads: ${(error as Error).message}`);
    return storeError(what, error);
  }
}
