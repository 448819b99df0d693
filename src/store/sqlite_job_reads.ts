/**
 * The SQLite store's reads of jobs and what they hold (tasks, attempts, logs), on the tracker's own
 * connection (the writes are the worker's: sqlite_writer.ts). Each is synchronous; the store answers
 * with a promise and names what failed (sqlite.ts's `#read`).
 */
import type { ActiveJobs, AttemptRecord, JobQuery, JobRecord, LogRow, TaskQuery, TaskRecord } from "./records.ts";
import { TASK_COLUMNS } from "./table_columns.ts";
import { type Row, toAttempt, toJob, toLog, toTask } from "./sqlite_records.ts";
import type { StatementCache } from "./sqlite_statements.ts";
import { containsPattern } from "./store.ts";

const TASK_SELECT = TASK_COLUMNS.join(", ");

export function loadSqliteActiveJobs(stmt: StatementCache): ActiveJobs {
  const active: ActiveJobs = { jobs: [], tasks: [], attempts: [], unreadable: [] };
  const rows = stmt("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id").all() as Row[];
  for (const row of rows) {
    const id = String(row.id);
    // Each job on its own: one whose rows do not parse is named (the tracker sets it aside), not thrown.
    let job: JobRecord, tasks: TaskRecord[], attempts: AttemptRecord[];
    try {
      job = toJob(row);
      tasks = (stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ? ORDER BY ord`).all(id) as Row[]).map(toTask);
      attempts = (stmt(
        "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt WHERE t.job_id = ?",
      ).all(id) as Row[]).map(toAttempt);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      active.unreadable.push({ jobId: id, reason: `its stored rows are not valid: ${error.message}` });
      continue;
    }
    active.jobs.push(job);
    for (const task of tasks) active.tasks.push(task);
    for (const attempt of attempts) active.attempts.push(attempt);
  }
  return active;
}

export function listSqliteJobs(stmt: StatementCache, limit: number): JobRecord[] {
  return (stmt("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?").all(limit) as Row[]).map(toJob);
}

export function getSqliteJob(stmt: StatementCache, id: string): JobRecord | null {
  const row = stmt("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
  return row ? toJob(row) : null;
}

export function listSqliteTasks(stmt: StatementCache, jobId: string): TaskRecord[] {
  return (stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ? ORDER BY ord`).all(jobId) as Row[]).map(toTask);
}

export function listSqliteJobsPage(stmt: StatementCache, query: JobQuery): JobRecord[] {
  const like = query.nameContains ? containsPattern(query.nameContains) : null;
  return (stmt(
    `SELECT * FROM jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\')
     ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4`,
  ).all(query.state ?? null, like, query.limit, query.offset) as Row[]).map(toJob);
}

export function listSqliteTasksPage(stmt: StatementCache, jobId: string, query: TaskQuery): TaskRecord[] {
  return (stmt(
    `SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY ord LIMIT ?3 OFFSET ?4`,
  ).all(jobId, query.state ?? null, query.limit, query.offset) as Row[]).map(toTask);
}

export function getSqliteTask(stmt: StatementCache, id: string): TaskRecord | null {
  const row = stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE id = ?`).get(id) as Row | undefined;
  return row ? toTask(row) : null;
}

export function listSqliteAttempts(stmt: StatementCache, taskId: string): AttemptRecord[] {
  return (stmt("SELECT * FROM attempts WHERE task_id = ? ORDER BY attempt").all(taskId) as Row[]).map(toAttempt);
}

export function readSqliteLogs(
  stmt: StatementCache,
  taskId: string,
  page: { attempt: number; afterSeq: number; limit: number },
): LogRow[] {
  return (stmt("SELECT * FROM logs WHERE task_id = ? AND attempt = ? AND seq > ? ORDER BY seq LIMIT ?")
    .all(taskId, page.attempt, page.afterSeq, page.limit) as Row[]).map(toLog);
}

export function sqliteJobLogBytes(stmt: StatementCache, jobId: string): number {
  // octet_length reads a value's size from its record header, not the value itself.
  const row = stmt(
    "SELECT coalesce(sum(octet_length(l.data)), 0) AS bytes FROM tasks t JOIN logs l ON l.task_id = t.id WHERE t.job_id = ?",
  ).get(jobId) as Row;
  return Number(row.bytes);
}
