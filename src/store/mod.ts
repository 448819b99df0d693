/**
 * Persistence. One `Store` interface; `SqliteStore` is the embedded default, `PostgresStore` a
 * database several trackers can share. The tracker decides what to write and when; a store only
 * makes each batch atomic and durable.
 */
export type { SecretStore, Store } from "./store.ts";
export { emptyBatch } from "./store.ts";
export { type Fence, LeaseLostError, type LeaseRenewalSource, type LeaseState, type LeaseStore } from "./lease.ts";
export type { TrackerRecord, TrackerRegistry, TrackerState } from "./trackers.ts";
export {
  type ArtifactRow,
  type ArtifactTotals,
  BLOB_GRACE_MS,
  type BlobRecord,
  type BlobStore,
  PERIODIC_USE,
} from "./blobs.ts";
export type {
  ChannelChangeRecord,
  ChannelKeyRecord,
  ChannelOwner,
  ChannelStore,
  ChannelWrite,
  ChannelWriteResult,
} from "./channels.ts";
export type * from "./records.ts";
export { queuedTask } from "./records.ts";
export type { PurgeOptions, PurgeResult, StoreSpace } from "./retention.ts";
export { emptyPurge } from "./retention.ts";
export { SqliteStore, type StoreSync } from "./sqlite.ts";
/** The tasks table's columns in the order the store writes them, for the bench's SQLite baseline (B4). */
export { TASK_COLUMNS } from "./table_columns.ts";
export { PostgresStore } from "./postgres.ts";
export { redactUrl } from "./postgres_store_pool.ts";
export { PostgresLease } from "./postgres_lease.ts";
export { poolSettings } from "./postgres_pool.ts";
export { openStore, sqlitePath } from "./open.ts";
export { type ExportCounts, type ExportPart, exportSqlite, noRows } from "./sqlite_export.ts";
