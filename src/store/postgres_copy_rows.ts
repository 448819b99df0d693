/** The tables a store copy moves row for row (copy_rows.ts), as PostgreSQL statements. */
import { COPY_COLUMNS, type CopyRows } from "./copy_rows.ts";
import { chunked } from "./postgres_rows.ts";
import { ARRAY_OIDS, columnsOf, type PgType, type Statement } from "./postgres_statement.ts";
import { table } from "./postgres_tables.ts";
import { upsertStatement } from "./postgres_upsert.ts";

const n = "bigint";

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
