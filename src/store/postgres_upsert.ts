/** A chunk of a table's rows as its upsert statement, the columns that hold one value sent as that value. */
import {
  ARRAY_OIDS,
  columnsOf,
  type PgType,
  type PgValue,
  SCALAR_OIDS,
  type Statement,
  storable,
} from "./postgres_statement.ts";
import type { Table } from "./postgres_tables.ts";
import type { SqlValue } from "./sql_rows.ts";

/**
 * From this many rows on, a column that holds the same value in every row of a chunk (a new job's
 * tasks: the job, the time, the state and a dozen empty columns) is sent as that one value rather
 * than an array of it: 5,000 new tasks carry 10 arrays instead of 24, which PostgreSQL's array input
 * and the client's array output spent most of a large submit on (100,000 tasks inserted in 1.05 s
 * instead of 2.0 on this machine). Smaller chunks keep one statement text per table, so that the
 * prepared statements the client keeps stay few (each mix of constant columns is a text of its own).
 */
const CONSTANT_MIN_ROWS = 256;

export function upsertStatement(table: Table, rows: SqlValue[][]): Statement {
  return upsertColumns(table, columnsOf(rows, table.types, table.keyIndexes));
}

export function upsertColumns(table: Table, params: PgValue[][]): Statement {
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
 * What columnsOf makes of `records`' rows, each row made and spread into the columns in turn, so that
 * one row at a time is alive rather than a statement's 5,000: a million tasks' insert made about 370 MB
 * of garbage, most of it rows that lived long enough (the pipeline's awaits) to reach the old space,
 * where the collector let it pile up to a peak RSS of 1.07-1.13 GB (issue #17). A key that comes twice
 * (never, for a new job's tasks) takes columnsOf's way, which keeps the later row.
 */
export function columnsOfRecords<T>(records: T[], toRow: (record: T) => SqlValue[], table: Table): PgValue[][] {
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
