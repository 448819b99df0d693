/**
 * A statement as the PostgreSQL store sends it: its text, and its parameters, one array per column of
 * rows, each with its type's oid; values that PostgreSQL would refuse are made storable (see `storable`).
 */
import type { SqlValue } from "./sql_rows.ts";

export type PgType = "text" | "bigint" | "float8" | "boolean" | "bytea";
export type PgValue = string | number | boolean | Uint8Array | null;

/**
 * The array types' oids: each parameter is sent with its own, as the client would otherwise infer
 * `bytea` (not `bytea[]`) from an array of bytes, and the same for booleans.
 */
export const ARRAY_OIDS: Record<PgType, number> = {
  text: 1009,
  bigint: 1016,
  float8: 1022,
  boolean: 1000,
  bytea: 1001,
};
/** The same types' own oids, for a column sent as one value (see CONSTANT_MIN_ROWS). */
export const SCALAR_OIDS: Record<PgType, number> = { text: 25, bigint: 20, float8: 701, boolean: 16, bytea: 17 };

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
 * Rows turned into one array per column. With `key`, a row whose key comes again later in the same
 * statement is left out (the later one wins, as in SQLite's one statement per row; PostgreSQL refuses
 * to update one row twice in one statement).
 */
export function columnsOf(rows: SqlValue[][], types: PgType[], key: number[] | null): PgValue[][] {
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
