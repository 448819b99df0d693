/**
 * Each table's columns in the order of its rows (sql_rows.ts): the SQLite store's statements are made of
 * them, the PostgreSQL store's too (postgres_tables.ts), and the reads name them.
 */
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
