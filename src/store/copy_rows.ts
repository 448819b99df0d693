/**
 * Tables a copy (`fabric store copy`, sqlite_export.ts) moves row for row, outside the write batches the
 * tracker makes: the blobs (packs and artifacts) that are whole, their chunks, the jobs' uses of them,
 * tasks' artifacts, and channels' keys with their counts. Channels' history is not copied: the copy
 * marks it compacted up to the last revision handed out, and its revisions go on from there.
 */
import type { SqlValue } from "./sql_rows.ts";

/** Rows of one table, in COPY_COLUMNS' order. */
export interface CopyRows {
  copy: CopyTable;
  rows: SqlValue[][];
}

/** Each table's key and its columns with their PostgreSQL types, in the order SQLite's rows are read. */
export const COPY_COLUMNS = {
  blobs: { key: ["sha256"], types: { sha256: "text", size: "bigint", complete: "boolean", touched_at: "bigint" } },
  blob_chunks: { key: ["sha256", "seq"], types: { sha256: "text", seq: "bigint", data: "bytea" } },
  job_blobs: { key: ["job_id", "sha256"], types: { job_id: "text", sha256: "text", at: "bigint" } },
  task_artifacts: {
    key: ["task_id", "attempt", "path"],
    types: { task_id: "text", attempt: "bigint", path: "text", sha256: "text", size: "bigint" },
  },
  channels: { key: ["name"], types: { name: "text", keys: "bigint" } },
  channel_keys: {
    key: ["channel", "key"],
    types: {
      channel: "text",
      key: "text",
      value: "text",
      create_revision: "bigint",
      mod_revision: "bigint",
      expires_at: "bigint",
      owner_task: "text",
      owner_attempt: "bigint",
    },
  },
  /** One row: the last revision handed out (the sequence goes on after it; history up to it is compacted). */
  channel_revision: { key: [], types: { revision: "bigint" } },
} as const;

export type CopyTable = keyof typeof COPY_COLUMNS;
