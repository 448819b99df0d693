/** Each table's PostgreSQL types, and its upsert of a chunk of rows spread by `unnest`. */
import type { PgType } from "./postgres_statement.ts";
import {
  AGENT_COLUMNS,
  ATTEMPT_COLUMNS,
  JOB_COLUMNS,
  JOB_SECRET_COLUMNS,
  PERIODIC_COLUMNS,
  TASK_COLUMNS,
  TOKEN_COLUMNS,
} from "./table_columns.ts";

const t = "text", n = "bigint", b = "boolean";

/** Each table's columns in the order of the SQLite store's rows, with their PostgreSQL types. */
export const TABLES = {
  meta: table("meta", ["key"], { key: t, value: t }, ["key", "value"]),
  agents: table("agents", ["id"], {
    id: t,
    name: t,
    labels: t,
    slots: n,
    version: t,
    os: t,
    arch: t,
    credential_hash: t,
    state: t,
    registered_at: n,
    last_heartbeat: n,
    load: t,
    weight: "float8",
    capabilities: t,
    resources: t,
    draining: b,
    drain_deadline: n,
    admission: t,
  }, AGENT_COLUMNS),
  jobs: table("jobs", ["id"], {
    id: t,
    name: t,
    spec: t,
    source: t,
    state: t,
    cancel_requested: b,
    total: n,
    counts: t,
    created_at: n,
    finished_at: n,
    version: n,
    files: t,
    signed: t,
    submitted_by: t,
    keep_ms: n,
    periodic: t,
    scheduled_at: n,
    packs: t,
  }, JOB_COLUMNS),
  tasks: table("tasks", ["id"], {
    id: t,
    job_id: t,
    ord: n,
    template: t,
    name: t,
    idx: n,
    count: n,
    matrix: t,
    pinned_agent: t,
    state: t,
    attempt: n,
    agent_id: t,
    exit_code: n,
    signal: t,
    reason: t,
    created_at: n,
    started_at: n,
    finished_at: n,
    duration_ms: "float8",
    output: t,
    output_truncated: b,
    failures: n,
    losses: n,
    retry_at: n,
  }, TASK_COLUMNS),
  attempts: table("attempts", ["task_id", "attempt"], {
    task_id: t,
    attempt: n,
    agent_id: t,
    state: t,
    assigned_at: n,
    started_at: n,
    finished_at: n,
    exit_code: n,
    signal: t,
    reason: t,
  }, ATTEMPT_COLUMNS),
  logs: table("logs", ["task_id", "attempt", "seq"], {
    task_id: t,
    attempt: n,
    seq: n,
    stream: t,
    data: "bytea",
    at: n,
  }, ["task_id", "attempt", "seq", "stream", "data", "at"]),
  tokens: table("tokens", ["hash"], {
    hash: t,
    name: t,
    role: t,
    created_at: n,
    expires_at: n,
    revoked_at: n,
    last_used_at: n,
  }, TOKEN_COLUMNS),
  jobSecrets: table("job_secrets", ["name"], {
    name: t,
    key_id: t,
    nonce: t,
    sealed: t,
    allow: t,
    created_at: n,
    updated_at: n,
  }, JOB_SECRET_COLUMNS),
  periodic: table("periodic", ["name"], {
    name: t,
    spec: t,
    files: t,
    source: t,
    signed: t,
    submitted_by: t,
    paused: b,
    created_at: n,
    updated_at: n,
    last_scheduled_at: n,
    last_job_id: t,
    last_note: t,
    packs: t,
  }, PERIODIC_COLUMNS),
};

export interface Table {
  name: string;
  key: string[];
  /** Where the key's columns are in a row; null for logs, whose duplicates the statement itself skips. */
  keyIndexes: number[] | null;
  columns: readonly string[];
  types: PgType[];
  /** INSERT ... ON CONFLICT DO UPDATE of every other column (logs: DO NOTHING, a chunk is written once). */
  upsert: string;
  /** Its ON CONFLICT clause, for the statement with constant columns. */
  conflict: string;
}

export function table(name: string, key: string[], types: Record<string, PgType>, columns: readonly string[]): Table {
  const missing = columns.filter((column) => !(column in types));
  if (missing.length > 0 || columns.length !== Object.keys(types).length) {
    throw new Error(`postgres_tables.ts: the ${name} columns ${missing.join(", ")} have no PostgreSQL type`);
  }
  const arrays = columns.map((column, i) => `$${i + 1}::${types[column]}[]`).join(", ");
  const updates = columns.filter((column) => !key.includes(column)).map((column) => `${column} = excluded.${column}`);
  const conflict = name === "logs" ? "DO NOTHING" : name === "tokens"
    // Merged, never overwritten (records.ts, TokenRecord), as sqlite_rows.ts's token statement.
    ? "DO UPDATE SET revoked_at = COALESCE(tokens.revoked_at, excluded.revoked_at), " +
      "last_used_at = GREATEST(tokens.last_used_at, excluded.last_used_at)"
    : `DO UPDATE SET ${updates.join(", ")}`;
  return {
    name,
    key,
    keyIndexes: name === "logs" ? null : key.map((column) => columns.indexOf(column)),
    columns,
    types: columns.map((column) => types[column]),
    upsert: `INSERT INTO ${name} (${columns.join(", ")}) SELECT * FROM unnest(${arrays})
      ON CONFLICT (${key.join(", ")}) ${conflict}`,
    conflict: `ON CONFLICT (${key.join(", ")}) ${conflict}`,
  };
}
