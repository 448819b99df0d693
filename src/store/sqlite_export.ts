/**
 * A SQLite store read out as write batches, for copying it into another store: every row of every
 * table, a bounded batch at a time (rows are read with a cursor, never a whole table), from one
 * snapshot (a read transaction: a tracker still writing the file changes nothing the export sees).
 */
import { DatabaseSync } from "node:sqlite";
import { FabricError } from "../protocol/mod.ts";
import { MIGRATIONS } from "./migrations.ts";
import type { WriteBatch } from "./records.ts";
import { storeError } from "./sqlite.ts";
import {
  toAgent,
  toAttempt,
  toAudit,
  toJob,
  toJobSecret,
  toLog,
  toPeriodic,
  toTask,
  toToken,
} from "./sqlite_records.ts";
import { emptyBatch } from "./store.ts";

type Row = Record<string, unknown>;

export interface ExportOptions {
  /** Rows per batch (default 5,000). */
  rows?: number;
  /** Log data per batch (default 8 MB): a log chunk may be 256 KB. */
  logBytes?: number;
}

export interface ExportCounts {
  meta: number;
  agents: number;
  jobs: number;
  tasks: number;
  attempts: number;
  logs: number;
  tokens: number;
  /** Secrets, as sealed (their key stays in the data directory). */
  jobSecrets: number;
  /** Entries of the audit trail (numbered anew, in the same order). */
  audit: number;
  periodic: number;
}

/** Tasks of jobs retention is deleting (their job row is gone already): not copied. */
const PURGED_TASKS = "SELECT id FROM tasks WHERE job_id IN (SELECT job_id FROM purging)";

/** The tables in the order they are read, each with its query and where its records go in a batch. */
const TABLES: Array<{ name: keyof ExportCounts; sql: string; add: (batch: WriteBatch, row: Row) => void }> = [
  {
    name: "meta",
    // Not channels' compaction mark: channels are not copied (docs/channels.md), and the copy's revisions
    // start again from 1, which a mark from here would call compacted.
    sql: "SELECT key, value FROM meta WHERE key <> 'channel_compacted' ORDER BY key",
    add: (b, r) => b.meta.set(String(r.key), String(r.value)),
  },
  { name: "agents", sql: "SELECT * FROM agents ORDER BY id", add: (b, r) => b.agents.push(toAgent(r)) },
  { name: "jobs", sql: "SELECT * FROM jobs ORDER BY id", add: (b, r) => b.newJobs.push(toJob(r)) },
  {
    name: "tasks",
    sql: "SELECT * FROM tasks WHERE job_id NOT IN (SELECT job_id FROM purging) ORDER BY id",
    add: (b, r) => b.tasks.push(toTask(r)),
  },
  {
    name: "attempts",
    sql: `SELECT * FROM attempts WHERE task_id NOT IN (${PURGED_TASKS}) ORDER BY task_id, attempt`,
    add: (b, r) => b.attempts.push(toAttempt(r)),
  },
  {
    name: "logs",
    sql: `SELECT * FROM logs WHERE task_id NOT IN (${PURGED_TASKS}) ORDER BY task_id, attempt, seq`,
    add: (b, r) => b.logs.push(toLog(r)),
  },
  { name: "tokens", sql: "SELECT * FROM tokens ORDER BY hash", add: (b, r) => b.tokens.push(toToken(r)) },
  {
    name: "jobSecrets",
    sql: "SELECT * FROM job_secrets ORDER BY name",
    add: (b, r) => b.jobSecrets.push(toJobSecret(r)),
  },
  {
    name: "audit",
    sql: "SELECT * FROM audit ORDER BY id",
    add: (b, r) => {
      const { id: _, ...entry } = toAudit(r);
      b.audit.push(entry);
    },
  },
  { name: "periodic", sql: "SELECT * FROM periodic ORDER BY name", add: (b, r) => b.periodic.push(toPeriodic(r)) },
];

/**
 * The store at `path` as batches; `counts` is filled as they are read. The file is opened read-only
 * and must exist; it must be at this fabric's schema version (a tracker's start migrates it).
 */
export async function* exportSqlite(
  path: string,
  counts: ExportCounts,
  options: ExportOptions = {},
): AsyncGenerator<WriteBatch> {
  const maxRows = options.rows ?? 5000;
  const maxBytes = options.logBytes ?? 8 * 1024 * 1024;
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (error) {
    throw new FabricError("not_found", `Cannot read the store "${path}": ${(error as Error).message}`);
  }
  try {
    const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
    if (version !== MIGRATIONS.length) {
      throw new FabricError(
        "conflict",
        `The store "${path}" has schema version ${version}, not this fabric's (${MIGRATIONS.length}): ` +
          "start a tracker of this version on it once, then copy it",
      );
    }
    db.exec("BEGIN");
    for (const table of TABLES) {
      let batch = emptyBatch();
      let rows = 0;
      let bytes = 0;
      let iterator: Iterator<unknown>;
      try {
        iterator = db.prepare(table.sql).iterate();
      } catch (error) {
        throw storeError(`read ${table.name}`, error);
      }
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        table.add(batch, next.value as Row);
        if (table.name === "logs") bytes += batch.logs[batch.logs.length - 1].data.length;
        counts[table.name]++;
        if (++rows >= maxRows || bytes >= maxBytes) {
          yield batch;
          batch = emptyBatch();
          rows = 0;
          bytes = 0;
        }
      }
      if (rows > 0) yield batch;
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

export function noRows(): ExportCounts {
  return {
    ...{ meta: 0, agents: 0, jobs: 0, tasks: 0, attempts: 0, logs: 0, tokens: 0 },
    ...{ jobSecrets: 0, audit: 0, periodic: 0 },
  };
}
