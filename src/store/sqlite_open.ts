/**
 * Opening the SQLite store's file on the tracker's thread: its settings (WAL, the --sync, no
 * checkpoints here), then its schema migrated to this fabric's, one version per transaction, before
 * the writer worker opens its own connection.
 */
import { DatabaseSync } from "node:sqlite";
import { FabricError } from "../protocol/mod.ts";
import { MIGRATIONS } from "./migrations.ts";
import type { Row } from "./sqlite_records.ts";

/** normal: survives a killed tracker (WAL); full: also a power loss, at the cost of a disk wait per commit. */
export type StoreSync = "normal" | "full";

/** Open (creating if needed) and migrate the database at `path`. */
export function openSqliteDatabase(path: string, sync: StoreSync): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
    // Before the first table: large pages suit logs (a 256 KB chunk is 16 pages, not 64).
    db.exec("PRAGMA page_size = 16384");
    // No checkpoints on this thread: one copies and syncs pages for as long as it takes (the worker does them).
    db.exec(
      `PRAGMA busy_timeout = 250; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${sync.toUpperCase()}; ` +
        "PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 0;",
    );
  } catch (error) {
    throw new FabricError("unavailable", `Cannot open the store "${path}": ${(error as Error).message}`);
  }
  migrate(db, path);
  return db;
}

export function sqliteSchemaVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
}

function migrate(db: DatabaseSync, path: string): void {
  const current = sqliteSchemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new FabricError(
      "unavailable",
      `The store "${path}" has schema version ${current}, newer than this fabric (${MIGRATIONS.length}); upgrade fabric`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[version]);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}
