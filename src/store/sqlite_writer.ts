/**
 * The SQLite store's writer, in a Worker with its own connection: a commit may wait for the disk
 * (and always writes it), and node:sqlite is synchronous, so on the tracker's own thread every
 * commit would stop every request meanwhile. Here it stops only this thread, and the tracker gathers
 * the next batch.
 *
 * Messages in: {type: "open", path, sync}, then {type: "write", id, rows} for a batch in one
 * transaction, begin / rows... / commit for a batch too large for one message, or checkpoint (the
 * WAL's pages into the database, for the commits the tracker made itself), or purge (one bounded step of
 * retention, sqlite_purge.ts), or blob (a write of blobs, sqlite_blobs.ts), or channel (a write of channels,
 * sqlite_channels.ts); out: {id, error?, result?}.
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";
import { insertRows, type PreparedStatements, prepareStatements } from "./sqlite_rows.ts";
import { inTransaction, rollback } from "./sqlite_transaction.ts";
import type { SqlRows } from "./sql_rows.ts";
import type { PurgeOps } from "./purge_rounds.ts";
import { sqlitePurgeOps, sqlitePurgeStep } from "./sqlite_purge.ts";
import type { PurgeOptions } from "./retention.ts";
import { type BlobWrite, prepareBlobStatements, runBlobWrite } from "./sqlite_blobs.ts";
import type { ChannelSql, ChannelWrite } from "./channels.ts";
import { runSqliteChannelWrite, sqliteChannelSql } from "./sqlite_channels.ts";

let db: DatabaseSync | null = null;
let prepared: PreparedStatements | null = null;
let purge: PurgeOps | null = null;
let blobs: ReturnType<typeof prepareBlobStatements> | null = null;
let channels: ChannelSql | null = null;

type Message =
  | { type: "open"; path: string; sync: "normal" | "full" }
  | { type: "write"; id: number; rows: SqlRows }
  | { type: "begin" | "commit" | "rollback" | "checkpoint" | "close"; id: number }
  | { type: "rows"; id: number; rows: SqlRows }
  | { type: "purge"; id: number; options: PurgeOptions }
  | { type: "blob"; id: number; write: BlobWrite }
  | { type: "channel"; id: number; write: ChannelWrite };

/**
 * Messages are handled one after the other, each to its end: a purge step awaits its statements
 * (purge_rounds.ts serves both stores), and a message that came meanwhile is dispatched between those
 * awaits (Deno hands a waiting message over at once), which put a write inside the step's transaction.
 */
let handled: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent) => {
  const message = event.data as Message;
  handled = handled.then(() => handle(message));
};

async function handle(message: Message): Promise<void> {
  try {
    if (message.type === "open") {
      db = new DatabaseSync(message.path);
      const sync = message.sync === "full" ? "FULL" : "NORMAL";
      db.exec(`PRAGMA busy_timeout = 250; PRAGMA synchronous = ${sync}; PRAGMA foreign_keys = OFF;`);
      prepared = prepareStatements(db);
      self.postMessage({ id: 0 });
    } else if (message.type === "write") {
      inTransaction(db!, () => insertRows(prepared!, message.rows));
      self.postMessage({ id: message.id });
    } else if (message.type === "begin") {
      db!.exec("BEGIN IMMEDIATE");
      self.postMessage({ id: message.id });
    } else if (message.type === "rows") {
      insertRows(prepared!, message.rows);
      self.postMessage({ id: message.id });
    } else if (message.type === "commit") {
      db!.exec("COMMIT");
      self.postMessage({ id: message.id });
    } else if (message.type === "checkpoint") {
      // PASSIVE: copies what no reader still needs, never waits for (or blocks) anyone.
      db!.exec("PRAGMA wal_checkpoint(PASSIVE)");
      self.postMessage({ id: message.id });
    } else if (message.type === "purge") {
      purge ??= sqlitePurgeOps(db!);
      self.postMessage({ id: message.id, result: await sqlitePurgeStep(db!, purge, message.options) });
    } else if (message.type === "blob") {
      blobs ??= prepareBlobStatements(db!);
      self.postMessage({ id: message.id, result: runBlobWrite(db!, blobs, message.write) });
    } else if (message.type === "channel") {
      channels ??= sqliteChannelSql(db!);
      self.postMessage({ id: message.id, result: await runSqliteChannelWrite(db!, channels, message.write) });
    } else if (message.type === "rollback") {
      rollback(db!);
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
}
