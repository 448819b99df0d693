/**
 * Retention in SQLite, one bounded step at a time, run by the writer worker in one transaction. A job
 * whose time is up leaves the jobs table at once (no listing shows it half deleted) and waits in
 * `purging` while its logs, attempts and tasks go, a few hundred rows per round, until the step has
 * deleted `maxRows` rows or taken `maxMs`: the tracker's own commits wait behind a step, so a step is
 * kept short whatever the size of the job (a 100,000-task job, a task with a GiB of output).
 *
 * The space goes to SQLite's freelist, and new rows reuse it: the file stays as large as its largest
 * day, and does not grow with the weeks (see docs/operating.md).
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { PurgeOptions, PurgeResult } from "./retention.ts";
import { inTransaction } from "./sqlite_rows.ts";

/** Jobs moved to `purging` in one round; tasks deleted in one round (with their attempts and output). */
const JOBS_PER_ROUND = 16;
const TASKS_PER_ROUND = 64;

/** A round's tasks: the first of the job's that are left. The same rows for each statement of the round. */
const ROUND = "SELECT id FROM tasks WHERE job_id = ?1 ORDER BY ord LIMIT ?2";

const SQL = {
  // Ended jobs only (finished_at is set only when a job ends), the oldest first; keep_ms lengthens a job's time.
  expired: `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at <= ?1
    AND (keep_ms IS NULL OR finished_at + keep_ms <= ?2) AND state IN ('succeeded', 'failed', 'cancelled')
    ORDER BY finished_at LIMIT ?3`,
  deleteJob: "DELETE FROM jobs WHERE id = ?",
  queue: "INSERT OR IGNORE INTO purging (job_id, since) VALUES (?, ?)",
  nextQueued: "SELECT job_id FROM purging ORDER BY since, job_id LIMIT 1",
  unqueue: "DELETE FROM purging WHERE job_id = ?",
  // Set-based: a statement per task was four times slower (100,000 tasks: 1.0-1.8 s against 4.4-6.2 s).
  roundRows: `SELECT (SELECT count(*) FROM logs WHERE task_id IN (${ROUND}))
    + (SELECT count(*) FROM attempts WHERE task_id IN (${ROUND})) + (SELECT count(*) FROM (${ROUND})) AS n`,
  roundLogs: `SELECT count(*) AS n FROM logs WHERE task_id IN (${ROUND})`,
  deleteLogs: `DELETE FROM logs WHERE task_id IN (${ROUND})`,
  deleteAttempts: `DELETE FROM attempts WHERE task_id IN (${ROUND})`,
  deleteTasks: `DELETE FROM tasks WHERE id IN (${ROUND})`,
  // One task's output in parts, when it alone is more than a step may delete.
  firstTask: "SELECT id FROM tasks WHERE job_id = ? ORDER BY ord LIMIT 1",
  nthLog: "SELECT attempt, seq FROM logs WHERE task_id = ?1 ORDER BY attempt, seq LIMIT 1 OFFSET ?2",
  deleteLogsTo: "DELETE FROM logs WHERE task_id = ?1 AND (attempt, seq) <= (?2, ?3)",
} as const;

export type PurgeStatements = Record<keyof typeof SQL, StatementSync>;

export function preparePurge(db: DatabaseSync): PurgeStatements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as PurgeStatements;
}

/**
 * One step, in one transaction of `db`. It ends past `maxRows` by at most one task's attempts and row:
 * a round's tasks go together when their rows fit, else one task, its output in parts when it has more.
 */
export function purgeStep(db: DatabaseSync, s: PurgeStatements, options: PurgeOptions): PurgeResult {
  const result: PurgeResult = { jobs: 0, tasks: 0, attempts: 0, logs: 0, more: false };
  if (options.retentionMs <= 0) return result;
  const started = performance.now();
  let rows = 0;
  inTransaction(db, () => {
    // Each round deletes at least one row or ends the step: bounded by maxRows.
    for (;;) {
      if (rows >= options.maxRows || performance.now() - started >= options.maxMs) {
        result.more = true;
        return;
      }
      const queued = s.nextQueued.get() as { job_id: string } | undefined;
      if (!queued) {
        const ids = s.expired.all(options.now - options.retentionMs, options.now, JOBS_PER_ROUND) as Array<
          { id: string }
        >;
        if (ids.length === 0) return;
        for (const { id } of ids) {
          s.deleteJob.run(id);
          s.queue.run(id, options.now);
        }
        result.jobs += ids.length;
        rows += ids.length;
        continue;
      }
      const job = queued.job_id;
      const room = Math.max(1, options.maxRows - rows);
      // As many of the job's first tasks as fit, their rows counted first (a round's tasks go together: a
      // statement per task was four times slower); a task alone with more output than fits, in parts.
      let take = TASKS_PER_ROUND;
      let fits = count(s.roundRows, job, take);
      // Each turn takes fewer tasks: at most TASKS_PER_ROUND turns, usually none or one.
      while (take > 1 && fits > room) {
        take = Math.max(1, Math.floor((take * room) / fits));
        fits = count(s.roundRows, job, take);
      }
      if (take === 1 && fits > room) {
        if (count(s.roundLogs, job, 1) > room) {
          const task = (s.firstTask.get(job) as { id: string }).id;
          const last = s.nthLog.get(task, room - 1) as { attempt: number; seq: number };
          const deleted = Number(s.deleteLogsTo.run(task, last.attempt, last.seq).changes);
          result.logs += deleted;
          rows += deleted;
          continue;
        }
      }
      const logs = Number(s.deleteLogs.run(job, take).changes);
      const attempts = Number(s.deleteAttempts.run(job, take).changes);
      const tasks = Number(s.deleteTasks.run(job, take).changes);
      if (tasks === 0) s.unqueue.run(job);
      result.logs += logs;
      result.attempts += attempts;
      result.tasks += tasks;
      rows += logs + attempts + tasks + (tasks === 0 ? 1 : 0);
    }
  });
  return result;
}

function count(statement: StatementSync, job: string, take: number): number {
  return Number((statement.get(job, take) as { n: number }).n);
}
