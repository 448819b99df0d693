/** Records as SQL rows, and the statements that write them: shared by the store and its writer worker. */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { TaskState } from "../protocol/mod.ts";
import type {
  AgentRecord,
  AttemptRecord,
  AuditRecord,
  JobRecord,
  JobSecretRecord,
  PeriodicRecord,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "./records.ts";

export type SqlValue = string | number | Uint8Array | null;

export interface SqlRows {
  meta: SqlValue[][];
  agents: SqlValue[][];
  newJobs: SqlValue[][];
  jobs: SqlValue[][];
  tasks: SqlValue[][];
  attempts: SqlValue[][];
  logs: SqlValue[][];
  setAside: SqlValue[][];
  tokens: SqlValue[][];
  jobSecrets: SqlValue[][];
  deletedJobSecrets: SqlValue[][];
  audit: SqlValue[][];
  periodic: SqlValue[][];
  deletedPeriodic: SqlValue[][];
}

export const TASK_COLUMNS = [
  "id",
  "job_id",
  "ord",
  "template",
  "name",
  "idx",
  "count",
  "matrix",
  "pinned_agent",
  "state",
  "attempt",
  "agent_id",
  "exit_code",
  "signal",
  "reason",
  "created_at",
  "started_at",
  "finished_at",
  "duration_ms",
  "output",
  "output_truncated",
  "failures",
  "losses",
  "retry_at",
];

export const AGENT_COLUMNS = [
  "id",
  "name",
  "labels",
  "slots",
  "version",
  "os",
  "arch",
  "credential_hash",
  "state",
  "registered_at",
  "last_heartbeat",
  "load",
  "weight",
  "capabilities",
  "resources",
  "draining",
  "drain_deadline",
  "admission",
];

export const JOB_COLUMNS = [
  "id",
  "name",
  "spec",
  "source",
  "state",
  "cancel_requested",
  "total",
  "counts",
  "created_at",
  "finished_at",
  "version",
  "files",
  "signed",
  "submitted_by",
  "keep_ms",
  "periodic",
  "scheduled_at",
  "packs",
];

export const TOKEN_COLUMNS = [
  "hash",
  "name",
  "role",
  "created_at",
  "expires_at",
  "revoked_at",
  "last_used_at",
];

export const PERIODIC_COLUMNS = [
  "name",
  "spec",
  "files",
  "source",
  "signed",
  "submitted_by",
  "paused",
  "created_at",
  "updated_at",
  "last_scheduled_at",
  "last_job_id",
  "last_note",
  "packs",
];

export const JOB_SECRET_COLUMNS = ["name", "key_id", "nonce", "sealed", "allow", "created_at", "updated_at"];

/** The audit table's columns but its id (the store numbers entries). */
export const AUDIT_COLUMNS = ["at", "actor", "role", "action", "target", "detail", "address", "outcome"];

export const ATTEMPT_COLUMNS = [
  "task_id",
  "attempt",
  "agent_id",
  "state",
  "assigned_at",
  "started_at",
  "finished_at",
  "exit_code",
  "signal",
  "reason",
];

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

/** `body` in one write transaction of `db`: committed whole, or rolled back and rethrown. */
export function inTransaction(db: DatabaseSync, body: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    body();
    db.exec("COMMIT");
  } catch (error) {
    rollback(db);
    throw error;
  }
}

export function rollback(db: DatabaseSync): void {
  try {
    db.exec("ROLLBACK");
  } catch { /* the failed statement may have rolled back already */ }
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

export function batchRows(batch: WriteBatch): SqlRows {
  return {
    meta: [...batch.meta].map(([key, value]) => [key, value]),
    agents: batch.agents.map(agentRow),
    newJobs: batch.newJobs.map(jobRow),
    jobs: batch.jobs.map((
      j,
    ) => [j.state, j.cancelRequested ? 1 : 0, JSON.stringify(j.counts), j.finishedAt, j.version, j.id]),
    tasks: batch.tasks.map(taskRow),
    attempts: batch.attempts.map(attemptRow),
    logs: batch.logs.map((l) => [l.taskId, l.attempt, l.seq, l.stream, logData(l.data), l.at]),
    setAside: batch.setAside.map((a) => [a.reason, a.at, a.jobId]),
    tokens: batch.tokens.map(tokenRow),
    jobSecrets: batch.jobSecrets.map(jobSecretRow),
    deletedJobSecrets: batch.deletedJobSecrets.map((name) => [name]),
    audit: batch.audit.map(auditRow),
    periodic: batch.periodic.map(periodicRow),
    deletedPeriodic: batch.deletedPeriodic.map((name) => [name]),
  };
}

function auditRow(a: AuditRecord): SqlValue[] {
  return [a.at, a.actor, a.role, a.action, a.target, a.detail, a.address, a.outcome];
}

function periodicRow(p: PeriodicRecord): SqlValue[] {
  return [
    p.name,
    JSON.stringify(p.spec),
    JSON.stringify(p.files),
    p.source,
    p.signed ? JSON.stringify(p.signed) : null,
    p.submittedBy,
    p.paused ? 1 : 0,
    p.createdAt,
    p.updatedAt,
    p.lastScheduledAt,
    p.lastJobId,
    p.lastNote,
    JSON.stringify(p.packs ?? {}),
  ];
}

function jobSecretRow(r: JobSecretRecord): SqlValue[] {
  return [r.name, r.keyId, r.nonce, r.sealed, JSON.stringify(r.allow), r.createdAt, r.updatedAt];
}

const encoder = new TextEncoder();

/** Output as SQLite keeps it: text, or bytes when it holds a NUL (node:sqlite cuts text at the first NUL). */
function logData(data: string): SqlValue {
  return data.includes("\0") ? encoder.encode(data) : data;
}

function agentRow(a: AgentRecord): SqlValue[] {
  return [
    a.id,
    a.name,
    JSON.stringify(a.labels),
    a.slots,
    a.version,
    a.os,
    a.arch,
    a.credentialHash,
    a.state,
    a.registeredAt,
    a.lastHeartbeat,
    a.load ? JSON.stringify(a.load) : null,
    a.weight,
    JSON.stringify(a.capabilities),
    JSON.stringify(a.resources),
    a.draining ? 1 : 0,
    a.drainDeadline,
    a.admission,
  ];
}

function jobRow(j: JobRecord): SqlValue[] {
  return [
    j.id,
    j.name,
    JSON.stringify(j.spec),
    j.source,
    j.state,
    j.cancelRequested ? 1 : 0,
    j.total,
    JSON.stringify(j.counts),
    j.createdAt,
    j.finishedAt,
    j.version,
    JSON.stringify(j.files),
    j.signed ? JSON.stringify(j.signed) : null,
    j.submittedBy,
    j.spec.retention ?? null,
    j.periodic?.name ?? null,
    j.periodic?.scheduledAt ?? null,
    JSON.stringify(j.packs ?? {}),
  ];
}

export function taskRow(t: TaskRecord): SqlValue[] {
  return [
    t.id,
    t.jobId,
    t.ord,
    t.template,
    t.name,
    t.index,
    t.count,
    t.matrix ? JSON.stringify(t.matrix) : null,
    t.pinnedAgent,
    t.state,
    t.attempt,
    t.agentId,
    t.exitCode,
    t.signal,
    t.reason,
    t.createdAt,
    t.startedAt,
    t.finishedAt,
    t.durationMs,
    t.output,
    t.outputTruncated ? 1 : 0,
    t.failures,
    t.losses,
    t.retryAt,
  ];
}

function attemptRow(a: AttemptRecord): SqlValue[] {
  return [
    a.taskId,
    a.attempt,
    a.agentId,
    a.state,
    a.assignedAt,
    a.startedAt,
    a.finishedAt,
    a.exitCode,
    a.signal,
    a.reason,
  ];
}

function tokenRow(t: TokenRecord): SqlValue[] {
  return [t.hash, t.name, t.role, t.createdAt, t.expiresAt, t.revokedAt, t.lastUsedAt];
}
