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

/** Jobs moved to `purging` in one round, log rows deleted per task in one round, tasks looked at in one round. */
const JOBS_PER_ROUND = 16;
const LOGS_PER_ROUND = 256;
const TASKS_PER_ROUND = 64;

const SQL = {
  // Ended jobs only (finished_at is set only when a job ends), the oldest first; keep_ms lengthens a job's time.
  expired: `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at <= ?1
    AND (keep_ms IS NULL OR finished_at + keep_ms <= ?2) AND state IN ('succeeded', 'failed', 'cancelled')
    ORDER BY finished_at LIMIT ?3`,
  deleteJob: "DELETE FROM jobs WHERE id = ?",
  queue: "INSERT OR IGNORE INTO purging (job_id, since) VALUES (?, ?)",
  nextQueued: "SELECT job_id FROM purging ORDER BY since, job_id LIMIT 1",
  unqueue: "DELETE FROM purging WHERE job_id = ?",
  tasksOf: "SELECT id FROM tasks WHERE job_id = ? ORDER BY ord LIMIT ?",
  logsOf: `DELETE FROM logs WHERE task_id = ?1 AND (attempt, seq) IN
    (SELECT attempt, seq FROM logs WHERE task_id = ?1 ORDER BY attempt, seq LIMIT ?2)`,
  attemptsOf: "DELETE FROM attempts WHERE task_id = ?",
  deleteTask: "DELETE FROM tasks WHERE id = ?",
} as const;

export type PurgeStatements = Record<keyof typeof SQL, StatementSync>;

export function preparePurge(db: DatabaseSync): PurgeStatements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as PurgeStatements;
}

/**
 * One step, in one transaction of `db`. It ends past `maxRows` by at most one task's attempts and row
 * (a task's output is deleted within the bound, the task then with its attempts).
 */
export function purgeStep(db: DatabaseSync, s: PurgeStatements, options: PurgeOptions): PurgeResult {
  const result: PurgeResult = { jobs: 0, tasks: 0, attempts: 0, logs: 0, more: false };
  if (options.retentionMs <= 0) return result;
  const started = performance.now();
  let rows = 0;
  const spent = () => rows >= options.maxRows || performance.now() - started >= options.maxMs;
  inTransaction(db, () => {
    // Each round deletes at least one row or ends the step: bounded by maxRows.
    for (;;) {
      if (spent()) {
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
      const tasks = s.tasksOf.all(queued.job_id, TASKS_PER_ROUND) as Array<{ id: string }>;
      if (tasks.length === 0) {
        s.unqueue.run(queued.job_id);
        rows++;
        continue;
      }
      for (const { id } of tasks) {
        const limit = Math.max(1, Math.min(LOGS_PER_ROUND, options.maxRows - rows));
        const logs = Number(s.logsOf.run(id, limit).changes);
        result.logs += logs;
        rows += logs;
        // More of this task's output is left: the next round goes on with it.
        if (logs === limit) break;
        const attempts = Number(s.attemptsOf.run(id).changes);
        s.deleteTask.run(id);
        result.attempts += attempts;
        result.tasks++;
        rows += attempts + 1;
        if (spent()) break;
      }
    }
  });
  return result;
}
