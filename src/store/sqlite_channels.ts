/**
 * Channels in SQLite (channels.ts): a write runs in the writer worker, in one transaction (the worker's
 * messages are handled one at a time, so nothing lands inside it); reads run where the store's other
 * reads do.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { applyChannelWrite, type ChannelSql, type ChannelWrite, type ChannelWriteResult } from "./channels.ts";
import { rollback } from "./sqlite_transaction.ts";

/** Statements of one connection, prepared once each. */
export function sqliteChannelSql(db: DatabaseSync): ChannelSql {
  const prepared = new Map<string, StatementSync>();
  const stmt = (text: string) => {
    let statement = prepared.get(text);
    if (!statement) prepared.set(text, statement = db.prepare(text));
    return statement;
  };
  return {
    all: (text, params) =>
      Promise.resolve(stmt(text).all(...params as SQLInputValue[]) as Array<Record<string, unknown>>),
    run: (text, params) => Promise.resolve(Number(stmt(text).run(...params as SQLInputValue[]).changes)),
  };
}

/** One write in its transaction (in the worker). */
export async function runSqliteChannelWrite(
  db: DatabaseSync,
  sql: ChannelSql,
  write: ChannelWrite,
): Promise<ChannelWriteResult> {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = await applyChannelWrite(sql, write);
    db.exec("COMMIT");
    return result;
  } catch (error) {
    rollback(db);
    throw error;
  }
}
