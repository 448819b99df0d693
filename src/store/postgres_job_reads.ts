/**
 * The PostgreSQL store's reads of jobs and what they hold (tasks, attempts, logs), one statement each,
 * on the store's pool (postgres_store_pool.ts's `read` names what failed). The active jobs, read in one
 * snapshot, are postgres_active_jobs.ts.
 */
import type postgres from "postgres";
import type { AttemptRecord, JobQuery, JobRecord, LogRow, TaskQuery, TaskRecord } from "./records.ts";
import { toAttempt, toJob, toLog, toTask } from "./sqlite_records.ts";
import { containsPattern } from "./store.ts";

export async function listPostgresJobs(sql: postgres.Sql, limit: number): Promise<JobRecord[]> {
  return (await sql`SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ${limit}`).map(toJob);
}

export async function getPostgresJob(sql: postgres.Sql, id: string): Promise<JobRecord | null> {
  const [row] = await sql`SELECT * FROM jobs WHERE id = ${id}`;
  return row ? toJob(row) : null;
}

export async function listPostgresTasks(sql: postgres.Sql, jobId: string): Promise<TaskRecord[]> {
  return (await sql`SELECT * FROM tasks WHERE job_id = ${jobId} ORDER BY ord`).map(toTask);
}

export async function listPostgresJobsPage(sql: postgres.Sql, query: JobQuery): Promise<JobRecord[]> {
  return (await sql`
    SELECT * FROM jobs WHERE TRUE
    ${query.state ? sql`AND state = ${query.state}` : sql``}
    ${query.nameContains ? sql`AND name ILIKE ${containsPattern(query.nameContains)} ESCAPE '\\'` : sql``}
    ORDER BY created_at DESC, id DESC LIMIT ${query.limit} OFFSET ${query.offset}`).map(toJob);
}

export async function listPostgresTasksPage(sql: postgres.Sql, jobId: string, query: TaskQuery): Promise<TaskRecord[]> {
  return (await sql`
    SELECT * FROM tasks WHERE job_id = ${jobId} ${query.state ? sql`AND state = ${query.state}` : sql``}
    ORDER BY ord LIMIT ${query.limit} OFFSET ${query.offset}`).map(toTask);
}

export async function getPostgresTask(sql: postgres.Sql, id: string): Promise<TaskRecord | null> {
  const [row] = await sql`SELECT * FROM tasks WHERE id = ${id}`;
  return row ? toTask(row) : null;
}

export async function listPostgresAttempts(sql: postgres.Sql, taskId: string): Promise<AttemptRecord[]> {
  return (await sql`SELECT * FROM attempts WHERE task_id = ${taskId} ORDER BY attempt`).map(toAttempt);
}

export async function readPostgresLogs(
  sql: postgres.Sql,
  taskId: string,
  page: { attempt: number; afterSeq: number; limit: number },
): Promise<LogRow[]> {
  return (await sql`
    SELECT * FROM logs WHERE task_id = ${taskId} AND attempt = ${page.attempt} AND seq > ${page.afterSeq}
    ORDER BY seq LIMIT ${page.limit}`).map(toLog);
}

export async function postgresJobLogBytes(sql: postgres.Sql, jobId: string): Promise<number> {
  // octet_length of a stored (TOASTed) value is read from its header, not by fetching it.
  const [row] = await sql`
    SELECT coalesce(sum(octet_length(l.data)), 0) AS bytes FROM tasks t JOIN logs l ON l.task_id = t.id
    WHERE t.job_id = ${jobId}`;
  return Number(row.bytes);
}
