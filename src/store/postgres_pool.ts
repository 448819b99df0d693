/**
 * Opening a postgres.js pool whose array parameters never depend on a round trip.
 *
 * postgres.js learns how to send arrays (`text[]`, `bigint[]`, ...) by asking each new connection
 * for the server's array types, and until that answer is in, an array is sent as `String(xs)`:
 * `["a"]` goes out as `a`, and PostgreSQL refuses it ("malformed array literal"). CI saw that once on
 * the first write after PostgreSQL restarted, with the store's pool just replaced. Every statement of
 * ours sends its rows as arrays of these five element types (postgres_rows.ts), so their serializers
 * are installed here, before the pool's first query; postgres.js's own fetch then adds the parsers
 * (no query of ours reads an array back).
 */
import postgres from "postgres";

/** Element type oid → its array type's oid, with how one element is written in an array literal. */
const ARRAY_TYPES: ReadonlyArray<{ element: number; array: number; write: (value: unknown) => string }> = [
  { element: 25, array: 1009, write: (value) => String(value) }, // text
  { element: 20, array: 1016, write: (value) => String(value) }, // bigint
  { element: 701, array: 1022, write: (value) => String(value) }, // float8
  { element: 16, array: 1000, write: (value) => value === true ? "t" : "f" }, // boolean
  { element: 17, array: 1001, write: (value) => "\\x" + hex(value as Uint8Array) }, // bytea
];

/** A pool on `url`, as `postgres(url, options)`, with array serializers that need no fetch. */
export function openPool(url: string, options: postgres.Options<Record<string, never>>): postgres.Sql {
  const sql = postgres(url, options);
  installArraySerializers(sql);
  return sql;
}

/** Adds the five array types' serializers to `sql` (exported for the test that shows they stand alone). */
export function installArraySerializers(sql: postgres.Sql): void {
  const options = sql.options as unknown as {
    serializers: Record<number, (value: unknown) => unknown>;
    shared: { typeArrayMap: Record<number, number> };
  };
  for (const { element, array, write } of ARRAY_TYPES) {
    options.shared.typeArrayMap[element] ??= array;
    options.serializers[array] ??= (values) => arrayLiteral(values, write);
  }
}

/** PostgreSQL's text form of a one-dimensional array: `{"a","b\"c",NULL}`. */
export function arrayLiteral(values: unknown, write: (value: unknown) => string): unknown {
  if (!Array.isArray(values)) return values;
  const items = values.map((value) => {
    if (value === undefined) throw new Error("an array parameter holds undefined"); // as postgres.js
    if (value === null) return "NULL";
    return `"${write(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  });
  return `{${items.join(",")}}`;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
