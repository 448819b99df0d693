/**
 * A batch as PostgreSQL statements: one per kind of record and chunk of rows, each row set passed as
 * one array per column and spread by `unnest`, so that 5,000 tasks are one statement and one
 * round trip, not 5,000. Rows are the SQLite store's (sql_rows.ts), so a record maps to the same
 * columns in both stores; here each column gets its PostgreSQL type, and values that PostgreSQL
 * would refuse are made storable (see `storable`).
 */
import type { TaskState } from "../protocol/mod.ts";
import { COPY_COLUMNS, type CopyRows } from "./copy_rows.ts";
import type { WriteBatch } from "./records.ts";
import { emptyBatch } from "./store.ts";
import { batchRows, type SqlRows, type SqlValue, taskRow } from "./sql_rows.ts";
import { TASK_STATE_ENDED } from "./sqlite_rows.ts";
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

type PgType = "text" | "bigint" | "float8" | "boolean" | "bytea";
export type PgValue = string | number | boolean | Uint8Array | null;

/**
 * The array types' oids: each parameter is sent with its own, as the client would otherwise infer
 * `bytea` (not `bytea[]`) from an array of bytes, and the same for booleans.
 */
const ARRAY_OIDS: Record<PgType, number> = { text: 1009, bigint: 1016, float8: 1022, boolean: 1000, bytea: 1001 };
/** The same types' own oids, for a column sent as one value (see CONSTANT_MIN_ROWS). */
const SCALAR_OIDS: Record<PgType, number> = { text: 25, bigint: 20, float8: 701, boolean: 16, bytea: 17 };

export interface Statement {
  text: string;
  /** One array per column (or one value, for a column that is the same in every row). */
  params: (PgValue[] | PgValue)[];
  /** Each parameter's type oid. */
  oids: number[];
  /**
   * A text made for this batch's values (constant columns: see CONSTANT_MIN_ROWS), of which there may be
   * many: sent unnamed, not kept prepared on the connection. Every other text is one of a few and is
   * kept prepared (postgres_transaction.ts), so that it is parsed and planned once, and sent in one round trip.
   */
  oneOff?: true;
}

/**
 * From this many rows on, a column that holds the same value in every row of a chunk (a new job's
 * tasks: the job, the time, the state and a dozen empty columns) is sent as that one value rather
 * than an array of it: 5,000 new tasks carry 10 arrays instead of 24, which PostgreSQL's array input
 * and the client's array output spent most of a large submit on (100,000 tasks inserted in 1.05 s
 * instead of 2.0 on this machine). Smaller chunks keep one statement text per table, so that the
 * prepared statements the client keeps stay few (each mix of constant columns is a text of its own).
 */
const CONSTANT_MIN_ROWS = 256;

/** Rows per statement; log rows also stop at LOG_CHUNK_BYTES of data (a chunk of output may be 256 KB). */
export const CHUNK_ROWS = 5000;
const LOG_CHUNK_BYTES = 8 * 1024 * 1024;

const t = "text", n = "bigint", b = "boolean";

/** Each table's columns in the order of the SQLite store's rows, with their PostgreSQL types. */
const TABLES = {
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

/** Audit entries, appended: the store numbers them (sqlite_rows.ts's audit row, AUDIT_COLUMNS). */
const AUDIT: PgType[] = [n, t, t, t, t, t, t, t];
const AUDIT_SQL = `INSERT INTO audit (${AUDIT_COLUMNS.join(", ")}) SELECT * FROM unnest(${
  AUDIT.map((type, i) => `$${i + 1}::${type}[]`).join(", ")
})`;

/** Secrets deleted (sqlite_rows.ts's deleteJobSecret, row: name), after the ones set. */
const DELETE_JOB_SECRETS_SQL = "DELETE FROM job_secrets WHERE name = ANY($1::text[])";
/** Periodic jobs deleted (row: name), after the ones written. */
const DELETE_PERIODIC_SQL = "DELETE FROM periodic WHERE name = ANY($1::text[])";

/** A job already stored: only what changes (sqlite_rows.ts's jobUpdate row: state, ..., version, id). */
const JOB_UPDATE: PgType[] = [t, b, t, n, n, t];
const JOB_UPDATE_SQL = `UPDATE jobs SET state = u.state, cancel_requested = u.cancel_requested, counts = u.counts,
  finished_at = u.finished_at, version = u.version
  FROM unnest($1::text[], $2::boolean[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
    AS u(state, cancel_requested, counts, finished_at, version, id)
  WHERE jobs.id = u.id`;

/**
 * Jobs set aside (sqlite_rows.ts's setAside statements, row: reason, at, job id), applied after the
 * rest of the batch, one statement after the other: each sees what the one before changed (the job's
 * counts are its tasks' once they have ended), which the CTEs of one statement would not.
 */
const SET_ASIDE: PgType[] = [t, n, t];
const SET_ASIDE_ROWS = "unnest($1::text[], $2::bigint[], $3::text[]) AS s(reason, at, job_id)";
const ENDED = Object.keys(TASK_STATE_ENDED).filter((state) => TASK_STATE_ENDED[state as TaskState]);
const SET_ASIDE_SQL = [
  `UPDATE attempts SET state = 'lost', reason = s.reason, finished_at = s.at FROM ${SET_ASIDE_ROWS}, tasks
    WHERE attempts.state IN ('assigned', 'running') AND tasks.id = attempts.task_id AND tasks.job_id = s.job_id`,
  `UPDATE tasks SET state = 'failed', reason = s.reason, finished_at = s.at, retry_at = NULL FROM ${SET_ASIDE_ROWS}
    WHERE tasks.job_id = s.job_id AND tasks.state NOT IN (${ENDED.map((state) => `'${state}'`).join(", ")})`,
  `UPDATE jobs SET state = 'failed', finished_at = s.at, version = jobs.version + 1, counts = (SELECT json_build_object(${
    Object.keys(TASK_STATE_ENDED).map((state) => `'${state}', count(*) FILTER (WHERE state = '${state}')`).join(", ")
  })::text FROM tasks WHERE tasks.job_id = s.job_id) FROM ${SET_ASIDE_ROWS} WHERE jobs.id = s.job_id`,
];

interface Table {
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

function table(name: string, key: string[], types: Record<string, PgType>, columns: readonly string[]): Table {
  const missing = columns.filter((column) => !(column in types));
  if (missing.length > 0 || columns.length !== Object.keys(types).length) {
    throw new Error(`postgres_rows.ts: the ${name} columns ${missing.join(", ")} have no PostgreSQL type`);
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

/**
 * The batch's statements, in the order SQLite writes them, made a chunk at a time as they are
 * taken: a batch of a million tasks is never all in memory twice.
 */
export function* batchStatements(batch: WriteBatch): Generator<Statement> {
  const { meta, agents, jobs, tasks, attempts, logs, tokens, jobSecrets, periodic } = TABLES;
  const rows = (part: Partial<WriteBatch>): SqlRows => batchRows({ ...emptyBatch(), ...part });
  if (batch.meta.size > 0) yield upsertStatement(meta, rows({ meta: batch.meta }).meta);
  yield* chunked(batch.agents, (part) => upsertStatement(agents, rows({ agents: part }).agents));
  yield* chunked(batch.newJobs, (part) => upsertStatement(jobs, rows({ newJobs: part }).newJobs));
  yield* chunked(batch.jobs, (part) => ({
    text: JOB_UPDATE_SQL,
    params: columnsOf(rows({ jobs: part }).jobs, JOB_UPDATE, [5]),
    oids: JOB_UPDATE.map((type) => ARRAY_OIDS[type]),
  }));
  // Each task's row made and spread into the columns at once (columnsOfRecords), not all rows first.
  yield* chunked(batch.tasks, (part) => upsertColumns(tasks, columnsOfRecords(part, taskRow, tasks)));
  yield* chunked(batch.attempts, (part) => upsertStatement(attempts, rows({ attempts: part }).attempts));
  let start = 0;
  while (start < batch.logs.length) {
    let end = start, bytes = 0;
    while (end < batch.logs.length && end - start < CHUNK_ROWS && (end === start || bytes < LOG_CHUNK_BYTES)) {
      bytes += batch.logs[end++].data.length;
    }
    yield upsertStatement(logs, rows({ logs: batch.logs.slice(start, end) }).logs);
    start = end;
  }
  yield* chunked(batch.tokens, (part) => upsertStatement(tokens, rows({ tokens: part }).tokens));
  if (batch.setAside.length > 0) {
    const params = columnsOf(rows({ setAside: batch.setAside }).setAside, SET_ASIDE, null);
    for (const text of SET_ASIDE_SQL) yield { text, params, oids: SET_ASIDE.map((type) => ARRAY_OIDS[type]) };
  }
  yield* chunked(batch.jobSecrets, (part) => upsertStatement(jobSecrets, rows({ jobSecrets: part }).jobSecrets));
  yield* chunked(batch.deletedJobSecrets, (part) => ({
    text: DELETE_JOB_SECRETS_SQL,
    params: [part],
    oids: [ARRAY_OIDS.text],
  }));
  yield* chunked(batch.audit, (part) => ({
    text: AUDIT_SQL,
    params: columnsOf(rows({ audit: part }).audit, AUDIT, null),
    oids: AUDIT.map((type) => ARRAY_OIDS[type]),
  }));
  yield* chunked(batch.periodic, (part) => upsertStatement(periodic, rows({ periodic: part }).periodic));
  yield* chunked(batch.deletedPeriodic, (part) => ({
    text: DELETE_PERIODIC_SQL,
    params: [part],
    oids: [ARRAY_OIDS.text],
  }));
}

/**
 * A batch of at most one chunk of each kind as ONE statement: each kind's statement a data-modifying
 * CTE of it, which PostgreSQL runs as one transaction (all of it or none). One statement is one
 * answer to wait for; a pipelined BEGIN ... COMMIT is one per statement, and each wakes the tracker
 * (measured on this machine: a two-kind batch took 0.7 ms as one statement, 2.8 ms pipelined, p25).
 * The kinds never touch the same rows (a job is new or updated, never both), so that the CTEs all
 * see the same snapshot changes nothing. A `fence` (a SELECT) is the statement's own query: when it
 * fails, so does the statement, CTEs included. Null for an empty batch, one that needs several
 * chunks, or one that sets jobs aside or both sets and deletes secrets (its statements must each see the
 * one before).
 */
export function singleStatement(batch: WriteBatch, fence?: Statement): Statement | null {
  if (batch.setAside.length > 0) return null;
  if (batch.jobSecrets.length > 0 && batch.deletedJobSecrets.length > 0) return null;
  if (batch.periodic.length > 0 && batch.deletedPeriodic.length > 0) return null;
  const counts = [batch.meta.size, batch.agents.length, batch.newJobs.length, batch.jobs.length, batch.tasks.length];
  counts.push(batch.attempts.length, batch.logs.length, batch.tokens.length);
  counts.push(batch.jobSecrets.length, batch.deletedJobSecrets.length, batch.audit.length);
  counts.push(batch.periodic.length, batch.deletedPeriodic.length);
  if (counts.some((count) => count > CHUNK_ROWS) || counts.every((count) => count === 0)) return null;
  let bytes = 0;
  for (const log of batch.logs) bytes += log.data.length;
  if (bytes > LOG_CHUNK_BYTES) return null;
  const parts = [...batchStatements(batch)];
  if (parts.length === 1 && !fence) return parts[0];
  let offset = 0;
  const renumber = (part: Statement) => {
    const text = part.text.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + offset}`);
    offset += part.params.length;
    return text;
  };
  const texts = parts.map((part, i) => `w${i} AS (${renumber(part)})`);
  const all = fence ? [...parts, fence] : parts;
  const statement: Statement = {
    text: `WITH ${texts.join(",\n")} ${fence ? renumber(fence) : "SELECT 1"}`,
    params: all.flatMap((part) => part.params),
    oids: all.flatMap((part) => part.oids),
  };
  if (all.some((part) => part.oneOff)) statement.oneOff = true;
  return statement;
}

/** The tables copied row for row (copy_rows.ts), as statements like a batch's. */
const COPY_TABLES = Object.fromEntries(
  Object.entries(COPY_COLUMNS).filter(([name]) => name !== "channel_revision").map(([name, { key, types }]) => [
    name,
    table(name, [...key], types as Record<string, PgType>, Object.keys(types)),
  ]),
);

/**
 * The channels' last revision (one row): the sequence goes on after it, and history up to it is
 * compacted (it was not copied), so a watch from before it is told so rather than shown nothing.
 */
const CHANNEL_REVISION_SQL = [
  "SELECT setval('channel_revision', r) FROM unnest($1::bigint[]) AS u(r)",
  `INSERT INTO meta (key, value) SELECT 'channel_compacted', r::text FROM unnest($1::bigint[]) AS u(r)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
];

/** Rows of a copied table as statements. */
export function* copyStatements(part: CopyRows): Generator<Statement> {
  if (part.copy === "channel_revision") {
    const params = columnsOf(part.rows, [n], null);
    for (const text of CHANNEL_REVISION_SQL) yield { text, params, oids: [ARRAY_OIDS.bigint] };
    return;
  }
  const target = COPY_TABLES[part.copy];
  yield* chunked(part.rows, (rows) => upsertStatement(target, rows));
}

function* chunked<T>(records: T[], statement: (part: T[]) => Statement): Generator<Statement> {
  for (let i = 0; i < records.length; i += CHUNK_ROWS) yield statement(records.slice(i, i + CHUNK_ROWS));
}

function upsertStatement(table: Table, rows: SqlValue[][]): Statement {
  return upsertColumns(table, columnsOf(rows, table.types, table.keyIndexes));
}

function upsertColumns(table: Table, params: PgValue[][]): Statement {
  const constant = params.map((values, i) => isConstant(values as PgValue[], table.types[i]));
  if (!constant.includes(true) || !constant.includes(false)) {
    return { text: table.upsert, params, oids: table.types.map((type) => ARRAY_OIDS[type]) };
  }
  // The constant columns as one value each, the others spread by unnest as before.
  const selected = table.columns.map((column, i) => constant[i] ? `$${i + 1}::${table.types[i]}` : `u.${column}`);
  const arrays = table.columns.flatMap((_, i) => constant[i] ? [] : [`$${i + 1}::${table.types[i]}[]`]);
  const names = table.columns.filter((_, i) => !constant[i]);
  return {
    text: `INSERT INTO ${table.name} (${table.columns.join(", ")}) SELECT ${selected.join(", ")}
      FROM unnest(${arrays.join(", ")}) AS u(${names.join(", ")}) ${table.conflict}`,
    params: params.map((values, i) => constant[i] ? (values as PgValue[])[0] : values),
    oids: table.types.map((type, i) => constant[i] ? SCALAR_OIDS[type] : ARRAY_OIDS[type]),
    oneOff: true,
  };
}

/** Whether a column of at least CONSTANT_MIN_ROWS values holds one value throughout (bytes never count as one). */
function isConstant(values: PgValue[], type: PgType): boolean {
  if (values.length < CONSTANT_MIN_ROWS || type === "bytea") return false;
  const first = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return false;
  return true;
}

/**
 * Rows turned into one array per column. With `key`, a row whose key comes again later in the same
 * statement is left out (the later one wins, as in SQLite's one statement per row; PostgreSQL refuses
 * to update one row twice in one statement).
 */
function columnsOf(rows: SqlValue[][], types: PgType[], key: number[] | null): PgValue[][] {
  let kept = rows;
  if (key !== null && rows.length > 1) {
    // A one-column key (a task's id) is its own map key: no string made per row.
    const keyOf = key.length === 1
      ? (row: SqlValue[]) => String(row[key[0]])
      : (row: SqlValue[]) => key.map((k) => String(row[k])).join("\u0000");
    const last = new Map<string, number>();
    for (let i = 0; i < rows.length; i++) last.set(keyOf(rows[i]), i);
    if (last.size < rows.length) kept = rows.filter((row, i) => last.get(keyOf(row)) === i);
  }
  return types.map((type, column) => kept.map((row) => storable(row[column], type)));
}

/**
 * What columnsOf makes of `records`' rows, each row made and spread into the columns in turn, so that
 * one row at a time is alive rather than a statement's 5,000: a million tasks' insert made about 370 MB
 * of garbage, most of it rows that lived long enough (the pipeline's awaits) to reach the old space,
 * where the collector let it pile up to a peak RSS of 1.07-1.13 GB (issue #17). A key that comes twice
 * (never, for a new job's tasks) takes columnsOf's way, which keeps the later row.
 */
function columnsOfRecords<T>(records: T[], toRow: (record: T) => SqlValue[], table: Table): PgValue[][] {
  const { types, keyIndexes: key } = table;
  const columns: PgValue[][] = types.map(() => new Array(records.length));
  const keys = key?.length === 1 ? new Set<string>() : null;
  for (let i = 0; i < records.length; i++) {
    const row = toRow(records[i]);
    if (keys) {
      const k = String(row[key![0]]);
      if (keys.has(k)) return columnsOf(records.map(toRow), types, key);
      keys.add(k);
    }
    for (let c = 0; c < types.length; c++) columns[c][i] = storable(row[c], types[c]);
  }
  if (key !== null && !keys && records.length > 1) return columnsOf(records.map(toRow), types, key);
  return columns;
}

const MAX_WHOLE = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();

/**
 * What PostgreSQL will take for `value`. SQLite stores anything; PostgreSQL refuses a NUL byte in
 * text and a fraction or a number past 2^63 in a bigint, and a refused value would fail its batch
 * and every retry of it, stopping the tracker's writes. Numbers come from agents unbounded (times,
 * sequence numbers, exit codes): whole numbers are truncated, as a Date truncates a time (so that the
 * API shows a task's start, computed from an agent's fractional duration, alike from either store:
 * SQLite keeps the fraction), and held to ±2^53 (what a JavaScript number holds exactly); a NUL in text (an agent's reason) becomes U+FFFD. Log data is bytes, stored as sent.
 */
export function storable(value: SqlValue, type: PgType): PgValue {
  if (value === null) return null;
  if (type === "bigint") {
    const number = Number(value);
    if (Number.isNaN(number)) return 0;
    return Math.max(-MAX_WHOLE, Math.min(MAX_WHOLE, Math.trunc(number)));
  }
  if (type === "boolean") return value === 1;
  if (type === "bytea") return value instanceof Uint8Array ? value : encoder.encode(String(value));
  if (typeof value !== "string") return value;
  if (type === "text" && value.includes("\0")) return value.replaceAll("\0", "\uFFFD");
  return value;
}
