/**
 * Persistence. One `Store` interface; `SqliteStore` is the embedded default. The tracker decides
 * what to write and when; a store only makes each batch atomic and durable.
 */
export type { Store } from "./store.ts";
export { emptyBatch } from "./store.ts";
export type * from "./records.ts";
export { queuedTask } from "./records.ts";
export { SqliteStore, type StoreSync } from "./sqlite.ts";
export { MIGRATIONS } from "./migrations.ts";
