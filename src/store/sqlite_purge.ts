/**
 * Retention's statements in SQLite (purge_rounds.ts runs them), in the writer worker, in one
 * transaction per step. The space of what they delete goes to SQLite's freelist, and new rows reuse
 * it: the file stays as large as the most it held at once, and does not grow with the weeks.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type PurgeOps, purgeRounds } from "./purge_rounds.ts";
import { ENDED_JOB_STATES, type PurgeOptions, type PurgeResult } from "./retention.ts";
import { rollback } from "./sqlite_transaction.ts";
import { prepareBlobStatements, sweepSqliteBlobs } from "./sqlite_blobs.ts";

/** A round's tasks: the job's first that are left. The same rows for each statement of the round. */
const ROUND = "SELECT id FROM tasks WHERE job_id = ?1 ORDER BY ord LIMIT ?2";

const SQL = {
  nextQueued: "SELECT job_id FROM purging ORDER BY since, job_id LIMIT 1",
  // finished_at is set only when a job ends; keep_ms (the job's own retention) makes its time longer.
  expired: `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at <= ?1
    AND (keep_ms IS NULL OR finished_at + keep_ms <= ?2) AND state IN (${ENDED_JOB_STATES})
    ORDER BY finished_at LIMIT ?3`,
  deleteJob: "DELETE FROM jobs WHERE id = ?",
  queue: "INSERT OR IGNORE INTO purging (job_id, since) VALUES (?, ?)",
  unqueue: "DELETE FROM purging WHERE job_id = ?",
  roundRows: `SELECT (SELECT count(*) FROM logs WHERE task_id IN (${ROUND}))
    + (SELECT count(*) FROM attempts WHERE task_id IN (${ROUND})) + (SELECT count(*) FROM (${ROUND})) AS n`,
  roundLogs: `SELECT count(*) AS n FROM logs WHERE task_id IN (${ROUND})`,
  deleteLogs: `DELETE FROM logs WHERE task_id IN (${ROUND})`,
  deleteAttempts: `DELETE FROM attempts WHERE task_id IN (${ROUND})`,
  deleteArtifacts: `DELETE FROM task_artifacts WHERE task_id IN (${ROUND})`,
  deleteTasks: `DELETE FROM tasks WHERE id IN (${ROUND})`,
  firstTask: "SELECT id FROM tasks WHERE job_id = ? ORDER BY ord LIMIT 1",
  nthLog: "SELECT attempt, seq FROM logs WHERE task_id = ?1 ORDER BY attempt, seq LIMIT 1 OFFSET ?2",
  deleteLogsTo: "DELETE FROM logs WHERE task_id = ?1 AND (attempt, seq) <= (?2, ?3)",
  expireAudit: "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at <= ?1 ORDER BY at LIMIT ?2)",
} as const;

/** The statements, prepared once per connection. Synchronous underneath: each promise is resolved when made. */
export function sqlitePurgeOps(db: DatabaseSync): PurgeOps {
  const blobs = prepareBlobStatements(db);
  const s = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Record<
    keyof typeof SQL,
    StatementSync
  >;
  const count = (statement: StatementSync, ...params: Array<string | number>) =>
    Number((statement.get(...params) as { n: number }).n);
  return {
    queued: () => Promise.resolve((s.nextQueued.get() as { job_id: string } | undefined)?.job_id ?? null),
    expire: (options) => {
      const due = options.now - options.retentionMs;
      const ids = s.expired.all(due, options.now, options.limit) as Array<{ id: string }>;
      for (const { id } of ids) {
        s.deleteJob.run(id);
        s.queue.run(id, options.now);
      }
      return Promise.resolve(ids.length);
    },
    roundRows: (job, take) => Promise.resolve(count(s.roundRows, job, take)),
    firstTaskLogs: (job) => Promise.resolve(count(s.roundLogs, job, 1)),
    deleteFirstTaskLogs: (job, rows) => {
      const task = (s.firstTask.get(job) as { id: string }).id;
      const last = s.nthLog.get(task, rows - 1) as { attempt: number; seq: number };
      return Promise.resolve(Number(s.deleteLogsTo.run(task, last.attempt, last.seq).changes));
    },
    deleteRound: (job, take) => {
      // A task's artifacts (names of blobs, a bounded list) go with it, before it: not counted as rows.
      s.deleteArtifacts.run(job, take);
      return Promise.resolve({
        logs: Number(s.deleteLogs.run(job, take).changes),
        attempts: Number(s.deleteAttempts.run(job, take).changes),
        tasks: Number(s.deleteTasks.run(job, take).changes),
      });
    },
    unqueue: (job) => {
      s.unqueue.run(job);
      blobs.unuseJob.run(job);
      return Promise.resolve();
    },
    expireAudit: (options) => Promise.resolve(Number(s.expireAudit.run(options.at, options.limit).changes)),
    sweepBlobs: (options) => Promise.resolve(sweepSqliteBlobs(blobs, options)),
  };
}

/** One step in one write transaction of `db` (the worker handles nothing else until it has ended). */
export async function sqlitePurgeStep(db: DatabaseSync, ops: PurgeOps, options: PurgeOptions): Promise<PurgeResult> {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = await purgeRounds(ops, options);
    db.exec("COMMIT");
    return result;
  } catch (error) {
    rollback(db);
    throw error;
  }
}
