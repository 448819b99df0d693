/**
 * How the SQLite store commits a batch: a small one on the tracker's own connection when the writer
 * worker has nothing to do, else in the worker (sqlite_writer.ts), whole, or in parts of one
 * transaction when it is large.
 */
import { snapshotBatch } from "./batch_snapshot.ts";
import type { DatabaseSync } from "node:sqlite";
import type { WriteBatch } from "./records.ts";
import { insertRows, type PreparedStatements, prepareStatements } from "./sqlite_rows.ts";
import { inTransaction } from "./sqlite_transaction.ts";
import { batchRows } from "./sql_rows.ts";
import type { StoreSync } from "./sqlite_open.ts";
import type { WriterWorker } from "./sqlite_writer_client.ts";
import { emptyBatch } from "./store.ts";
import { storeError } from "./store_error.ts";

/** Rows per message to the writer worker. */
const CHUNK_ROWS = 5000;
/**
 * A batch this small is committed on the tracker's thread when the worker has nothing to do: a
 * commit without a disk wait takes ~0.1 ms, a round trip to the worker several times that, and a
 * one-task job has three commits between its submit and its end.
 */
const INLINE_ROWS = 64;
const INLINE_LOG_BYTES = 32 * 1024;
/** The tracker's own commits leave their pages in the WAL; the worker copies them out this often. */
const CHECKPOINT_EVERY = 256;

export class SqliteBatchWriter {
  #db: DatabaseSync;
  #writer: WriterWorker;
  #sync: StoreSync;
  #inline: PreparedStatements | null = null;
  #inlineCommits = 0;

  /** `db` is the tracker's connection; `writer` the worker, with its own. */
  constructor(db: DatabaseSync, writer: WriterWorker, sync: StoreSync) {
    this.#db = db;
    this.#writer = writer;
    this.#sync = sync;
  }

  /**
   * Atomically persist a batch: a small one here if nothing is being written (without a disk wait:
   * sync "normal"), else in the writer worker.
   */
  write(batch: WriteBatch): Promise<void> {
    if (this.#sync === "normal" && this.#writer.idle && fitsInline(batch)) {
      try {
        this.#writeHere(batch);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(storeError("write", error));
      }
    }
    return sendBatch(this.#writer, batch).catch((error) => {
      throw storeError("write", error);
    });
  }

  #writeHere(batch: WriteBatch): void {
    const statements = this.#inline ??= prepareStatements(this.#db);
    inTransaction(this.#db, () => insertRows(statements, batchRows(batch)));
    if (++this.#inlineCommits % CHECKPOINT_EVERY === 0) {
      this.#writer.send({ type: "checkpoint" }).catch(() => {/* the next one tries again */});
    }
  }
}

/** Small enough to commit on the tracker's thread (see INLINE_ROWS). */
function fitsInline(batch: WriteBatch): boolean {
  const rows = batch.meta.size + batch.agents.length + batch.newJobs.length + batch.jobs.length +
    batch.tasks.length + batch.attempts.length + batch.logs.length + batch.setAside.length + batch.tokens.length +
    batch.jobSecrets.length + batch.deletedJobSecrets.length + batch.audit.length + batch.periodic.length +
    batch.deletedPeriodic.length;
  if (rows > INLINE_ROWS) return false;
  let bytes = 0;
  for (const log of batch.logs) bytes += log.data.length;
  return bytes <= INLINE_LOG_BYTES;
}

/** The batch to the worker: one message, or a large one in parts of one transaction. */
function sendBatch(writer: WriterWorker, batch: WriteBatch): Promise<void> {
  return batch.tasks.length + batch.logs.length <= CHUNK_ROWS
    ? writer.send({ type: "write", rows: batchRows(batch) })
    : sendInParts(writer, snapshotBatch(batch));
}

/**
 * A large batch (a job of 100,000 tasks) goes in parts of one transaction: rows are made and
 * copied to the worker a chunk at a time, not all at once (which doubled the tracker's memory).
 */
function sendInParts(writer: WriterWorker, batch: WriteBatch): Promise<void> {
  return writer.alone(async (send) => {
    await send({ type: "begin" });
    try {
      const rest = { ...batch, tasks: [], logs: [], setAside: [] };
      await send({ type: "rows", rows: batchRows(rest) });
      for (const key of ["tasks", "logs"] as const) {
        for (let i = 0; i < batch[key].length; i += CHUNK_ROWS) {
          const part = { ...emptyBatch(), [key]: batch[key].slice(i, i + CHUNK_ROWS) };
          await send({ type: "rows", rows: batchRows(part) });
        }
      }
      // Last, as in a batch written at once: it overrides the rows above.
      await send({ type: "rows", rows: batchRows({ ...emptyBatch(), setAside: batch.setAside }) });
      await send({ type: "commit" });
    } catch (error) {
      await send({ type: "rollback" }).catch(() => {});
      throw error;
    }
  });
}
