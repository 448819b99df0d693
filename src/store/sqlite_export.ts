/**
 * A SQLite store read out as write batches, for copying it into another store: every row of every
 * table, a bounded batch at a time (rows are read with a cursor, never a whole table), from one
 * snapshot (a read transaction: a tracker still writing the file changes nothing the export sees).
 */
import { DatabaseSync } from "node:sqlite";
import { FabricError } from "../protocol/mod.ts";
import { MIGRATIONS } from "./migrations.ts";
import type { CopyRows, CopyTable } from "./copy_rows.ts";
import type { WriteBatch } from "./records.ts";
import { storeError } from "./store_error.ts";
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

/** A batch of the tracker's records, or rows of a table copied as they are (copy_rows.ts). */
export type ExportPart = WriteBatch | CopyRows;

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
  /** Blobs stored whole (packs and artifacts), and their bytes; an upload never finished is left out. */
  blobs: number;
  blobBytes: number;
  /** Tasks' artifacts (rows: an attempt's file each). */
  artifacts: number;
  /** Channels' keys (their history is not copied). */
  channelKeys: number;
}

/** Tasks of jobs retention is deleting (their job row is gone already): not copied. */
const PURGED_TASKS = "SELECT id FROM tasks WHERE job_id IN (SELECT job_id FROM purging)";

/** The tables in the order they are read, each with its query and where its records go in a batch. */
const TABLES: Array<{ name: keyof ExportCounts; sql: string; add: (batch: WriteBatch, row: Row) => void }> = [
  {
    name: "meta",
    // Not channels' compaction mark: the copy sets its own at the last revision (copy_rows.ts), as
    // channels' history is not copied.
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

const WHOLE = "SELECT sha256 FROM blobs WHERE complete = 1";

/** The tables copied row for row (copy_rows.ts), after the batches, each with what it counts. */
const COPIED: Array<{ copy: CopyTable; sql: string; count?: keyof ExportCounts }> = [
  {
    copy: "blobs",
    sql: "SELECT sha256, size, complete, touched_at FROM blobs WHERE complete = 1 ORDER BY sha256",
    count: "blobs",
  },
  {
    copy: "blob_chunks",
    sql: `SELECT sha256, seq, data FROM blob_chunks WHERE sha256 IN (${WHOLE}) ORDER BY sha256, seq`,
  },
  {
    copy: "job_blobs",
    sql: `SELECT job_id, sha256, at FROM job_blobs WHERE sha256 IN (${WHOLE})
      AND job_id NOT IN (SELECT job_id FROM purging) ORDER BY job_id, sha256`,
  },
  {
    copy: "task_artifacts",
    sql: `SELECT task_id, attempt, path, sha256, size FROM task_artifacts WHERE task_id NOT IN (${PURGED_TASKS})
      ORDER BY task_id, attempt, path`,
    count: "artifacts",
  },
  { copy: "channels", sql: "SELECT name, keys FROM channels ORDER BY name" },
  {
    copy: "channel_keys",
    sql: `SELECT channel, key, value, create_revision, mod_revision, expires_at, owner_task, owner_attempt
      FROM channel_keys ORDER BY channel, key`,
    count: "channelKeys",
  },
  // AUTOINCREMENT's own record of the last revision handed out (its history may be compacted away).
  {
    copy: "channel_revision",
    sql: "SELECT seq AS revision FROM sqlite_sequence WHERE name = 'channel_changes' AND seq > 0",
  },
];

/** A blob chunk is up to 4 MiB: a part of the copy holds at most this many bytes of them (one chunk or more). */
const COPY_PART_BYTES = 4 * 1024 * 1024;

/**
 * The store at `path` as batches; `counts` is filled as they are read. The file is opened read-only
 * and must exist; it must be at this fabric's schema version (a tracker's start migrates it).
 */
export async function* exportSqlite(
  path: string,
  counts: ExportCounts,
  options: ExportOptions = {},
): AsyncGenerator<ExportPart> {
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
    for (const table of COPIED) yield* copiedRows(db, table, counts, maxRows);
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** One table's rows as parts of at most `maxRows` rows and COPY_PART_BYTES of blob data (or one chunk). */
function* copiedRows(
  db: DatabaseSync,
  table: (typeof COPIED)[number],
  counts: ExportCounts,
  maxRows: number,
): Generator<CopyRows> {
  let iterator: Iterator<unknown>;
  try {
    iterator = db.prepare(table.sql).iterate();
  } catch (error) {
    throw storeError(`read ${table.copy}`, error);
  }
  let rows: CopyRows["rows"] = [];
  let bytes = 0;
  for (let next = iterator.next(); !next.done; next = iterator.next()) {
    const row = Object.values(next.value as Row) as CopyRows["rows"][number];
    const size = table.copy === "blob_chunks" ? (row[2] as Uint8Array).byteLength : 0;
    // A part goes before a chunk that would take it past COPY_PART_BYTES: a 4 MiB chunk is a part alone.
    if (rows.length >= maxRows || (rows.length > 0 && bytes + size > COPY_PART_BYTES)) {
      yield { copy: table.copy, rows };
      rows = [];
      bytes = 0;
    }
    rows.push(row);
    bytes += size;
    if (table.count) counts[table.count]++;
    if (table.copy === "blobs") counts.blobBytes += Number(row[1]);
  }
  if (rows.length > 0) yield { copy: table.copy, rows };
}

export function noRows(): ExportCounts {
  return {
    ...{ meta: 0, agents: 0, jobs: 0, tasks: 0, attempts: 0, logs: 0, tokens: 0 },
    ...{ jobSecrets: 0, audit: 0, periodic: 0, blobs: 0, blobBytes: 0, artifacts: 0, channelKeys: 0 },
  };
}
