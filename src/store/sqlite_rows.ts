/** The statements that write a batch's rows (sql_rows.ts) to SQLite: shared by the store and its writer worker. */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { TaskState } from "../protocol/mod.ts";
import type { SqlRows } from "./sql_rows.ts";
import {
  AGENT_COLUMNS,
  ATTEMPT_COLUMNS,
  AUDIT_COLUMNS,
  JOB_COLUMNS,
  JOB_SECRET_COLUMNS,
  PERIODIC_COLUMNS,
  TASK_COLUMNS,
  TOKEN_COLUMNS,
} from "./table_columns.ts";

/**
 * Every task state, and whether a task in it has ended (as protocol's TERMINAL_TASK_STATES; spelled out
 * here because this module is also the writer worker's, which does not load the protocol). A state
 * missing here is a type error, so the SQL built from it stays whole.
 */
export const TASK_STATE_ENDED: Record<TaskState, boolean> = {
  queued: false,
  assigned: false,
  running: false,
  succeeded: true,
  failed: true,
  cancelled: true,
  skipped: true,
  lost: false,
};
const ENDED = Object.keys(TASK_STATE_ENDED).filter((state) => TASK_STATE_ENDED[state as TaskState]);

/**
 * INSERT, or UPDATE every other column but `fixed` when the key exists (never REPLACE: it deletes rows
 * that clash on other unique keys). `fixed` never change for a key: left out of the UPDATE, an index
 * on them only is not rewritten by it (tasks_job, by each of a task's three or more state changes).
 */
function upsert(table: string, key: string[], columns: string[], fixed: string[] = []): string {
  const updates = columns.filter((c) => !key.includes(c) && !fixed.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})
    ON CONFLICT (${key.join(", ")}) DO UPDATE SET ${updates.join(", ")}`;
}

export const statements = {
  meta: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  agent: upsert("agents", ["id"], AGENT_COLUMNS),
  newJob: upsert("jobs", ["id"], JOB_COLUMNS),
  jobUpdate: "UPDATE jobs SET state = ?, cancel_requested = ?, counts = ?, finished_at = ?, version = ? WHERE id = ?",
  // A task keeps its job and its place in it (ord) for life.
  task: upsert("tasks", ["id"], TASK_COLUMNS, ["job_id", "ord"]),
  attempt: upsert("attempts", ["task_id", "attempt"], ATTEMPT_COLUMNS),
  log: "INSERT OR IGNORE INTO logs (task_id, attempt, seq, stream, data, at) VALUES (?, ?, ?, ?, ?, ?)",
  // A job set aside: its open attempts and unended tasks end, and its counts are taken from its tasks.
  setAsideAttempts: `UPDATE attempts SET state = 'lost', reason = ?1, finished_at = ?2
    WHERE state IN ('assigned', 'running') AND task_id IN (SELECT id FROM tasks WHERE job_id = ?3)`,
  setAsideTasks: `UPDATE tasks SET state = 'failed', reason = ?1, finished_at = ?2, retry_at = NULL
    WHERE job_id = ?3 AND state NOT IN (${ENDED.map((state) => `'${state}'`).join(", ")})`,
  setAsideJob:
    `UPDATE jobs SET state = 'failed', finished_at = ?2, version = version + 1, counts = (SELECT json_object(${
      Object.keys(TASK_STATE_ENDED).map((state) => `'${state}', count(*) FILTER (WHERE state = '${state}')`).join(", ")
    }) FROM tasks WHERE job_id = ?3) WHERE id = ?3`,
  // Merged, never overwritten (records.ts, TokenRecord): a revocation stays, a last use only moves forward.
  token: `INSERT INTO tokens (${TOKEN_COLUMNS.join(", ")}) VALUES (${TOKEN_COLUMNS.map(() => "?").join(", ")})
    ON CONFLICT (hash) DO UPDATE SET revoked_at = COALESCE(tokens.revoked_at, excluded.revoked_at),
      last_used_at = COALESCE(MAX(tokens.last_used_at, excluded.last_used_at), tokens.last_used_at, excluded.last_used_at)`,
  jobSecret: upsert("job_secrets", ["name"], JOB_SECRET_COLUMNS),
  deleteJobSecret: "DELETE FROM job_secrets WHERE name = ?",
  audit: `INSERT INTO audit (${AUDIT_COLUMNS.join(", ")}) VALUES (${AUDIT_COLUMNS.map(() => "?").join(", ")})`,
  periodic: upsert("periodic", ["name"], PERIODIC_COLUMNS),
  deletePeriodic: "DELETE FROM periodic WHERE name = ?",
} as const;

export type PreparedStatements = Record<keyof typeof statements, StatementSync>;

export function prepareStatements(db: DatabaseSync): PreparedStatements {
  return Object.fromEntries(
    Object.entries(statements).map(([name, sql]) => [name, db.prepare(sql)]),
  ) as PreparedStatements;
}

/** One batch's rows, inside a transaction the caller holds. */
export function insertRows(s: PreparedStatements, rows: SqlRows): void {
  for (const row of rows.meta) s.meta.run(...row);
  for (const row of rows.agents) s.agent.run(...row);
  for (const row of rows.newJobs) s.newJob.run(...row);
  for (const row of rows.jobs) s.jobUpdate.run(...row);
  for (const row of rows.tasks) s.task.run(...row);
  for (const row of rows.attempts) s.attempt.run(...row);
  for (const row of rows.logs) s.log.run(...row);
  for (const row of rows.tokens) s.token.run(...row);
  for (const row of rows.setAside) {
    s.setAsideAttempts.run(...row);
    s.setAsideTasks.run(...row);
    s.setAsideJob.run(...row);
  }
  for (const row of rows.jobSecrets) s.jobSecret.run(...row);
  for (const row of rows.deletedJobSecrets) s.deleteJobSecret.run(...row);
  for (const row of rows.audit) s.audit.run(...row);
  for (const row of rows.periodic) s.periodic.run(...row);
  for (const row of rows.deletedPeriodic) s.deletePeriodic.run(...row);
}
