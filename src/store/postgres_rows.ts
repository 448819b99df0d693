/**
 * A batch as PostgreSQL statements: one per kind of record and chunk of rows, each row set passed as
 * one array per column and spread by `unnest`, so that 5,000 tasks are one statement and one
 * round trip, not 5,000. Rows are the SQLite store's (sql_rows.ts), so a record maps to the same
 * columns in both stores; here each column gets its PostgreSQL type (postgres_tables.ts), and values
 * that PostgreSQL would refuse are made storable (postgres_statement.ts's `storable`).
 */
import { ARRAY_OIDS, columnsOf, type PgType, type Statement } from "./postgres_statement.ts";
import { SET_ASIDE, SET_ASIDE_SQL } from "./postgres_set_aside.ts";
import { TABLES } from "./postgres_tables.ts";
import { columnsOfRecords, upsertColumns, upsertStatement } from "./postgres_upsert.ts";
import type { WriteBatch } from "./records.ts";
import { batchRows, type SqlRows, taskRow } from "./sql_rows.ts";
import { emptyBatch } from "./store.ts";
import { AUDIT_COLUMNS } from "./table_columns.ts";

/** Rows per statement; log rows also stop at LOG_CHUNK_BYTES of data (a chunk of output may be 256 KB). */
export const CHUNK_ROWS = 5000;
export const LOG_CHUNK_BYTES = 8 * 1024 * 1024;

const t = "text", n = "bigint", b = "boolean";

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

export function* chunked<T>(records: T[], statement: (part: T[]) => Statement): Generator<Statement> {
  for (let i = 0; i < records.length; i += CHUNK_ROWS) yield statement(records.slice(i, i + CHUNK_ROWS));
}
