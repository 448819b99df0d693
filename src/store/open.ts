/** Which store a tracker uses: PostgreSQL when given its URL, else SQLite in the data directory. */
import { join } from "node:path";
import { PostgresStore } from "./postgres.ts";
import { SqliteStore, type StoreSync } from "./sqlite.ts";
import type { Store } from "./store.ts";

export interface OpenStoreOptions {
  /** A postgres:// URL; none for the embedded SQLite store. */
  url?: string;
  /** Where SQLite's file is (fabric.db). */
  dataDir: string;
  sync?: StoreSync;
}

/** The SQLite store's file in a tracker's data directory. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, "fabric.db");
}

/** True for the URLs PostgresStore takes. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (options.url === undefined) return SqliteStore.open(sqlitePath(options.dataDir), { sync: options.sync });
  return await PostgresStore.open(options.url, {
    sync: options.sync,
    applicationName: `fabric tracker ${Deno.hostname()} ${Deno.pid}`.slice(0, 63),
    fenced: true,
  });
}
