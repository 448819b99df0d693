/** A SQLite connection's statements, prepared at their first use and kept: each text is parsed once. */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** The statement of this text on the connection (the same one each time). */
export type StatementCache = (text: string) => StatementSync;

export function statementCache(db: DatabaseSync): StatementCache {
  const prepared = new Map<string, StatementSync>();
  return (text) => {
    let statement = prepared.get(text);
    if (!statement) {
      statement = db.prepare(text);
      prepared.set(text, statement);
    }
    return statement;
  };
}
