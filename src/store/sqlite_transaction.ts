/** A write transaction on a SQLite connection, for the store and its writer worker. */
import type { DatabaseSync } from "node:sqlite";

/** `body` in one write transaction of `db`: committed whole, or rolled back and rethrown. */
export function inTransaction(db: DatabaseSync, body: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    body();
    db.exec("COMMIT");
  } catch (error) {
    rollback(db);
    throw error;
  }
}

export function rollback(db: DatabaseSync): void {
  try {
    db.exec("ROLLBACK");
  } catch { /* the failed statement may have rolled back already */ }
}
