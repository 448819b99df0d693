/**
 * The jobs that have not ended, with their tasks and current attempts, read from PostgreSQL in one
 * snapshot (what a tracker loads when it starts to lead). Tasks come through a cursor, a chunk at a
 * time: a million queued tasks are never all rows and records at once.
 */
import type postgres from "postgres";
import type { ActiveJobs, AttemptRecord, JobRecord, TaskRecord } from "./records.ts";
import { toAttempt, toJob, toTask } from "./sqlite_records.ts";

/**
 * Rows a cursor fetches at a time: each fetch's rows are made records in one pass, which must stay
 * short (a new leader reading a million tasks renews its lease meanwhile; 5,000 took up to 300 ms on
 * a busy 2-core machine, 1,000 take a fifth of it, and cost the read ~1 ms a round trip more).
 */
const CURSOR_ROWS = 1000;

export function loadPostgresActiveJobs(sql: postgres.Sql): Promise<ActiveJobs> {
  // One snapshot for the three reads: the jobs, their tasks and current attempts agree.
  return sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
    // Each job on its own: one whose rows do not parse is named (the tracker sets it aside), not thrown.
    const unreadable = new Map<string, string>();
    const read = <T>(jobId: string, row: postgres.Row, to: (row: postgres.Row) => T, into: T[]) => {
      if (unreadable.has(jobId)) return;
      try {
        into.push(to(row));
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        unreadable.set(jobId, `its stored rows are not valid: ${error.message}`);
      }
    };
    const jobRows = await tx`SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id`;
    const jobs: JobRecord[] = [];
    for (const row of jobRows) read(String(row.id), row, toJob, jobs);
    const tasks: TaskRecord[] = [];
    const cursor = tx`
      SELECT t.* FROM tasks t JOIN jobs j ON j.id = t.job_id
      WHERE j.state IN ('queued', 'running') ORDER BY j.created_at, j.id, t.ord`.cursor(CURSOR_ROWS);
    for await (const rows of cursor) for (const row of rows) read(String(row.job_id), row, toTask, tasks);
    const attempts: AttemptRecord[] = [];
    const attemptRows = await tx`
      SELECT a.*, t.job_id AS job_id FROM attempts a JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt
      JOIN jobs j ON j.id = t.job_id
      WHERE j.state IN ('queued', 'running') ORDER BY j.created_at, j.id, t.ord`;
    const attemptJobs: string[] = [];
    for (const row of attemptRows) {
      const before = attempts.length;
      read(String(row.job_id), row, toAttempt, attempts);
      if (attempts.length > before) attemptJobs.push(String(row.job_id));
    }
    const readable = (jobId: string) => !unreadable.has(jobId);
    return {
      jobs: jobs.filter((job) => readable(job.id)),
      tasks: unreadable.size === 0 ? tasks : tasks.filter((task) => readable(task.jobId)),
      attempts: attempts.filter((_, i) => readable(attemptJobs[i])),
      // In the jobs' order, as SQLite names them.
      unreadable: jobRows.map((row) => String(row.id)).filter((id) => !readable(id))
        .map((jobId) => ({ jobId, reason: unreadable.get(jobId)! })),
    };
  });
}
