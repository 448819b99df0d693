/**
 * Copying a store into an empty PostgreSQL store (`fabric store copy`): the statements of the one
 * transaction that fills it (postgres_transaction.ts runs them), and the count of rows that tells
 * whether it is empty.
 */
import type postgres from "postgres";
import { copyStatements } from "./postgres_copy_rows.ts";
import { batchStatements } from "./postgres_rows.ts";
import type { Statement } from "./postgres_statement.ts";
import type { ExportPart } from "./sqlite_export.ts";

/** The tables a store copy must find empty. */
export const DATA_TABLES = [
  "meta",
  "secrets",
  "agents",
  "jobs",
  "tasks",
  "attempts",
  "logs",
  "tokens",
  "job_secrets",
  "audit",
  "periodic",
] as const;

const NOT_EMPTY_CHECK = `DO $$ BEGIN
  IF ${DATA_TABLES.map((table) => `EXISTS (SELECT 1 FROM ${table})`).join(" OR ")} THEN
    RAISE EXCEPTION 'the store is not empty';
  END IF;
END $$`;

/**
 * Every batch `source` yields, and `secrets`, as statements: first the lock on every table and the
 * check that they are empty, so that a copy into a store that holds anything writes nothing. Memory
 * holds one batch at a time.
 */
export async function* copyInStatements(
  source: AsyncIterable<ExportPart>,
  secrets: Record<string, string>,
): AsyncGenerator<Statement> {
  const names = Object.keys(secrets);
  yield { text: "LOCK TABLE " + DATA_TABLES.join(", ") + " IN EXCLUSIVE MODE", params: [], oids: [] };
  yield { text: NOT_EMPTY_CHECK, params: [], oids: [] };
  yield {
    text: "INSERT INTO secrets (name, value) SELECT * FROM unnest($1::text[], $2::text[])",
    params: [names, names.map((name) => secrets[name])],
    oids: [1009, 1009],
  };
  for await (const part of source) yield* "copy" in part ? copyStatements(part) : batchStatements(part);
}

/** Rows in each table a copy fills: all zero for an empty store. */
export async function countPostgresRows(sql: postgres.Sql): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of DATA_TABLES) {
    counts[table] = Number((await sql.unsafe(`SELECT count(*) AS n FROM ${table}`))[0].n);
  }
  return counts;
}
