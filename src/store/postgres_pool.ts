/**
 * Opening a postgres.js pool whose array parameters never depend on a round trip.
 *
 * postgres.js learns how to send arrays (`text[]`, `bigint[]`, ...) by asking each new connection
 * for the server's array types, and until that answer is in, an array is sent as `String(xs)`:
 * `["a"]` goes out as `a`, and PostgreSQL refuses it ("malformed array literal"). CI saw that once on
 * the first write after PostgreSQL restarted, with the store's pool just replaced. Every statement of
 * ours sends its rows as arrays of these five element types (postgres_statement.ts), so their serializers
 * are installed here, before the pool's first query; postgres.js's own fetch then adds the parsers
 * (no query of ours reads an array back).
 */
import postgres from "postgres";
import type { StoreSync } from "./sqlite.ts";

const CONNECT_TIMEOUT_S = 10;
/**
 * TCP keepalives on every connection: PostgreSQL sees within about 30 s that a tracker's machine is
 * gone, and ends its session (a transaction it left open holds the lease's row). A transaction left
 * idle (its tracker cut off mid-batch) is ended after IDLE_IN_TRANSACTION_MS.
 */
const KEEPALIVES = { tcp_keepalives_idle: "15", tcp_keepalives_interval: "5", tcp_keepalives_count: "3" };
const IDLE_IN_TRANSACTION_MS = 10_000;

/** The settings of every connection of a tracker's (its pool, and its lease's: postgres_lease.ts). */
export function poolSettings(
  options: { sync?: StoreSync; applicationName?: string },
): postgres.Options<Record<string, never>> {
  return {
    connect_timeout: CONNECT_TIMEOUT_S,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? "fabric",
      ...(options.sync === "full" ? {} : { synchronous_commit: "off" }),
      ...KEEPALIVES,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    },
  };
}

/** Codes of a failure of the connection itself, not of a statement (postgres.js's, Node's, PostgreSQL's 57P0x). */
const BROKEN_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: shutting down, starting up
]);

export function connectionBroken(error: unknown): boolean {
  const e = error as { code?: string; errno?: string; message?: string };
  return BROKEN_CODES.has(e?.code ?? "") || BROKEN_CODES.has(e?.errno ?? "") ||
    /socket has been ended|shutting down|starting up/i.test(e?.message ?? "");
}

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
  const socket = unixSocketDir(url);
  const sql = socket ? postgres(socket.url, { ...options, host: socket.dir }) : postgres(url, options);
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

/**
 * libpq's way to name a unix socket in a URL, `postgres://USER@localhost/DB?host=/var/run/postgresql`:
 * the query's `host` (a directory) is where the socket is, and the URL's port names it
 * (`.s.PGSQL.PORT`). postgres.js reads no host from a query (it would send it to the server as a
 * setting, which refuses it), so it is taken out here and given as the host. Null for any other URL.
 */
export function unixSocketDir(url: string): { url: string; dir: string } | null {
  let parsed: URL;
  try {
    // libpq takes an empty host with a user (`postgres://fabric@/db`, `fabric@:5433/db`); URL does not.
    parsed = new URL(url.replace(/^([a-z]+:\/\/[^/?#@]*@)(?=[:/?])/i, "$1localhost"));
  } catch {
    return null;
  }
  const dir = parsed.searchParams.get("host");
  if (dir === null || !dir.startsWith("/")) return null;
  parsed.searchParams.delete("host");
  return { url: parsed.toString(), dir };
}
