/**
 * The SQLite store's writer, in a Worker with its own connection: a commit may wait for the disk
 * (and always writes it), and node:sqlite is synchronous, so on the tracker's own thread every
 * commit would stop every request meanwhile. Here it stops only this thread, and the tracker gathers
 * the next batch.
 *
 * Messages in: {type: "open", path, sync}, then {type: "write", id, rows} for a batch in one
 * transaction, or begin / rows... / commit for a batch too large for one message; out: {id, error?}.
 */
/// <reference lib="deno.worker" />
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SqlRows } from "./sqlite_rows.ts";
import { statements } from "./sqlite_rows.ts";

let db: DatabaseSync | null = null;
let prepared: Record<keyof typeof statements, StatementSync> | null = null;

self.onmessage = (event: MessageEvent) => {
  const message = event.data as
    | { type: "open"; path: string; sync: "normal" | "full" }
    | { type: "write"; id: number; rows: SqlRows }
    | { type: "begin" | "commit" | "rollback" | "close"; id: number }
    | { type: "rows"; id: number; rows: SqlRows };
  try {
    if (message.type === "open") {
      db = new DatabaseSync(message.path);
      const sync = message.sync === "full" ? "FULL" : "NORMAL";
      db.exec(`PRAGMA busy_timeout = 250; PRAGMA synchronous = ${sync}; PRAGMA foreign_keys = OFF;`);
      prepared = Object.fromEntries(
        Object.entries(statements).map(([name, sql]) => [name, db!.prepare(sql)]),
      ) as typeof prepared;
      self.postMessage({ id: 0 });
    } else if (message.type === "write") {
      transaction(() => insert(message.rows));
      self.postMessage({ id: message.id });
    } else if (message.type === "begin") {
      db!.exec("BEGIN IMMEDIATE");
      self.postMessage({ id: message.id });
    } else if (message.type === "rows") {
      insert(message.rows);
      self.postMessage({ id: message.id });
    } else if (message.type === "commit") {
      db!.exec("COMMIT");
      self.postMessage({ id: message.id });
    } else if (message.type === "rollback") {
      rollback();
      self.postMessage({ id: message.id });
    } else {
      db?.close();
      db = null;
      self.postMessage({ id: message.id });
      self.close();
    }
  } catch (error) {
    self.postMessage({ id: "id" in message ? message.id : 0, error: (error as Error)?.message ?? String(error) });
  }
};

function transaction(body: () => void): void {
  db!.exec("BEGIN IMMEDIATE");
  try {
    body();
    db!.exec("COMMIT");
  } catch (error) {
    rollback();
    throw error;
  }
}

function rollback(): void {
  try {
    db!.exec("ROLLBACK");
  } catch { /* the failed statement may have rolled back already */ }
}

function insert(rows: SqlRows): void {
  const s = prepared!;
  for (const row of rows.meta) s.meta.run(...row);
  for (const row of rows.agents) s.agent.run(...row);
  for (const row of rows.newJobs) s.newJob.run(...row);
  for (const row of rows.jobs) s.jobUpdate.run(...row);
  for (const row of rows.tasks) s.task.run(...row);
  for (const row of rows.attempts) s.attempt.run(...row);
  for (const row of rows.logs) s.log.run(...row);
}
