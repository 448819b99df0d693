/**
 * The embedded store: one SQLite file in WAL mode. A commit is in the WAL before it is acknowledged,
 * so a killed tracker loses nothing it answered for; with `sync: "full"` each commit also waits for
 * the disk, so a power loss does not either. node:sqlite is synchronous, so a lock held by someone
 * else blocks the tracker while it waits: the busy timeout is short, and the writer retries later.
 *
 * This class composes the store from the files beside it: the file opened and migrated
 * (sqlite_open.ts), reads on the tracker's connection (sqlite_job_reads.ts, sqlite_reads.ts,
 * sqlite_blob_reads.ts, channel_reads.ts), writes in the writer worker or, small ones, here
 * (sqlite_batch_writes.ts).
 */
import type { DatabaseSync } from "node:sqlite";
import type { LeaseState } from "./lease.ts";
import type { TrackerRecord, TrackerState } from "./trackers.ts";
import type {
  ActiveJobs,
  AgentRecord,
  AttemptRecord,
  AuditQuery,
  JobQuery,
  JobRecord,
  JobSecretRecord,
  LogRow,
  PeriodicRecord,
  StoredAuditRecord,
  TaskQuery,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "./records.ts";
import type { PurgeOptions, PurgeResult, StoreSpace } from "./retention.ts";
import { auditPageQuery, type Store } from "./store.ts";
import { type Row, toAudit } from "./sqlite_records.ts";
import { storeError } from "./store_error.ts";
import { openSqliteDatabase, sqliteSchemaVersion, type StoreSync } from "./sqlite_open.ts";
import { type StatementCache, statementCache } from "./sqlite_statements.ts";
import {
  getSqliteJob,
  getSqliteTask,
  listSqliteAttempts,
  listSqliteJobs,
  listSqliteJobsPage,
  listSqliteTasks,
  listSqliteTasksPage,
  loadSqliteActiveJobs,
  readSqliteLogs,
  sqliteJobLogBytes,
} from "./sqlite_job_reads.ts";
import {
  getSqliteAgents,
  getSqliteMeta,
  loadSqliteAgents,
  loadSqliteJobSecrets,
  loadSqlitePeriodic,
  loadSqliteTokens,
  sqliteSpace,
} from "./sqlite_reads.ts";
import { SqliteBatchWriter } from "./sqlite_batch_writes.ts";
import { WriterWorker } from "./sqlite_writer_client.ts";
import type { ArtifactRow, ArtifactsRecord, ArtifactTotals, BlobRecord } from "./blobs.ts";
import type { BlobWrite } from "./sqlite_blobs.ts";
import { getSqliteBlob, listSqliteArtifacts, readSqliteChunk, sqliteJobArtifacts } from "./sqlite_blob_reads.ts";
import { type ChannelReads, channelReads } from "./channel_reads.ts";
import type { ChannelKeyRecord, ChannelOwner, ChannelSql, ChannelWrite, ChannelWriteResult } from "./channels.ts";
import { sqliteChannelSql } from "./sqlite_channels.ts";

export type { StoreSync } from "./sqlite_open.ts";

export class SqliteStore implements Store {
  #db: DatabaseSync;
  #stmt: StatementCache;
  #writer: WriterWorker;
  #batches: SqliteBatchWriter;
  #channels: ChannelSql | null = null;
  /** On this connection, through sqlite_channels.ts's statements (prepared at the first read). */
  #channelReads: ChannelReads = channelReads((what, body) =>
    body(this.#channelSql).catch((error) => {
      throw storeError(`read ${what}`, error);
    })
  );

  private constructor(path: string, db: DatabaseSync, sync: StoreSync) {
    this.#db = db;
    this.#stmt = statementCache(db);
    this.#writer = new WriterWorker(path, sync);
    this.#batches = new SqliteBatchWriter(db, this.#writer, sync);
  }

  /** Open (creating if needed) and migrate the database at `path`. */
  static open(path: string, options: { sync?: StoreSync } = {}): SqliteStore {
    const sync = options.sync ?? "normal";
    // Migrated on this connection before the writer opens its own.
    return new SqliteStore(path, openSqliteDatabase(path, sync), sync);
  }

  get schemaVersion(): number {
    return sqliteSchemaVersion(this.#db);
  }

  #read<T>(what: string, body: (stmt: StatementCache) => T): Promise<T> {
    try {
      return Promise.resolve(body(this.#stmt));
    } catch (error) {
      return Promise.reject(storeError(`read ${what}`, error));
    }
  }

  getMeta(key: string): Promise<string | null> {
    return this.#read("meta", (stmt) => getSqliteMeta(stmt, key));
  }

  loadAgents(): Promise<AgentRecord[]> {
    return this.#read("agents", loadSqliteAgents);
  }

  getAgents(ids: readonly string[]): Promise<AgentRecord[]> {
    return this.#read("agents", (stmt) => getSqliteAgents(stmt, ids));
  }

  loadActiveJobs(): Promise<ActiveJobs> {
    return this.#read("active jobs", loadSqliteActiveJobs);
  }

  listJobs(options: { limit: number }): Promise<JobRecord[]> {
    return this.#read("jobs", (stmt) => listSqliteJobs(stmt, options.limit));
  }

  getJob(id: string): Promise<JobRecord | null> {
    return this.#read("job", (stmt) => getSqliteJob(stmt, id));
  }

  listTasks(jobId: string): Promise<TaskRecord[]> {
    return this.#read("tasks", (stmt) => listSqliteTasks(stmt, jobId));
  }

  listJobsPage(query: JobQuery): Promise<JobRecord[]> {
    return this.#read("jobs", (stmt) => listSqliteJobsPage(stmt, query));
  }

  listTasksPage(jobId: string, query: TaskQuery): Promise<TaskRecord[]> {
    return this.#read("tasks", (stmt) => listSqliteTasksPage(stmt, jobId, query));
  }

  getTask(id: string): Promise<TaskRecord | null> {
    return this.#read("task", (stmt) => getSqliteTask(stmt, id));
  }

  listAttempts(taskId: string): Promise<AttemptRecord[]> {
    return this.#read("attempts", (stmt) => listSqliteAttempts(stmt, taskId));
  }

  readLogs(taskId: string, attempt: number, afterSeq: number, limit: number): Promise<LogRow[]> {
    return this.#read("logs", (stmt) => readSqliteLogs(stmt, taskId, { attempt, afterSeq, limit }));
  }

  loadTokens(): Promise<TokenRecord[]> {
    return this.#read("tokens", loadSqliteTokens);
  }

  loadJobSecrets(): Promise<JobSecretRecord[]> {
    return this.#read("secrets", loadSqliteJobSecrets);
  }

  listAudit(query: AuditQuery): Promise<StoredAuditRecord[]> {
    // The page's query is both stores' (store.ts); SQLite's parameters are `?N` for `$N`.
    const { text, params } = auditPageQuery(query);
    return this.#read(
      "the audit trail",
      (stmt) => (stmt(text.replaceAll("$", "?")).all(...params) as Row[]).map(toAudit),
    );
  }

  loadPeriodic(): Promise<PeriodicRecord[]> {
    return this.#read("periodic jobs", loadSqlitePeriodic);
  }

  /**
   * The lease is always its one tracker's: the data directory's lock (cli/data_dir_lock.ts) already
   * keeps a second tracker off this file, so there is nothing to fence and nothing expires.
   */
  acquireLease(holder: string): Promise<LeaseState> {
    return Promise.resolve({ holder, epoch: 1, remainingMs: null });
  }
  renewLease(fence: { holder: string; epoch: number }): Promise<LeaseState> {
    return Promise.resolve({ ...fence, remainingMs: null });
  }
  releaseLease(): Promise<void> {
    return Promise.resolve();
  }

  /** Its one tracker, kept in memory: nobody else reads this file's list. */
  #tracker: TrackerState | null = null;

  heartbeatTracker(tracker: TrackerRecord): Promise<void> {
    this.#tracker = { ...tracker, lastSeen: Date.now(), leads: true };
    return Promise.resolve();
  }
  listTrackers(): Promise<TrackerState[]> {
    return Promise.resolve(this.#tracker ? [{ ...this.#tracker }] : []);
  }

  /** A fence is always held (see acquireLease); see sqlite_batch_writes.ts for where a batch is committed. */
  write(batch: WriteBatch): Promise<void> {
    return this.#batches.write(batch);
  }

  // ---- blobs: written in the worker (sqlite_blobs.ts), read here (sqlite_blob_reads.ts) ---------------------------------

  getBlob(sha256: string): Promise<BlobRecord | null> {
    return this.#read("a blob", (stmt) => getSqliteBlob(stmt, sha256));
  }

  readBlobChunk(sha256: string, seq: number): Promise<Uint8Array | null> {
    return this.#read("a blob's chunk", (stmt) => readSqliteChunk(stmt, sha256, seq));
  }

  putBlobChunk(sha256: string, seq: number, data: Uint8Array, now: number): Promise<boolean> {
    return this.#blobWrite({ op: "putChunk", sha256, seq, data, now });
  }

  completeBlob(sha256: string, options: { size: number; chunks: number; now: number }): Promise<boolean> {
    return this.#blobWrite({ op: "complete", sha256, ...options });
  }

  dropUpload(sha256: string): Promise<void> {
    return this.#blobWrite({ op: "dropUpload", sha256 });
  }

  useBlobs(jobId: string, sha256s: string[], now: number): Promise<string[]> {
    return this.#blobWrite({ op: "use", jobId, sha256s, now });
  }

  recordArtifacts(record: ArtifactsRecord): Promise<string[]> {
    return this.#blobWrite({ op: "artifacts", record });
  }

  listArtifacts(taskId: string): Promise<ArtifactRow[]> {
    return this.#read("a task's artifacts", (stmt) => listSqliteArtifacts(stmt, taskId));
  }

  jobArtifacts(jobId: string): Promise<ArtifactTotals> {
    return this.#read("a job's artifacts", (stmt) => sqliteJobArtifacts(stmt, jobId));
  }

  #blobWrite<T>(write: BlobWrite): Promise<T> {
    return this.#writer.send<T>({ type: "blob", write }).catch((error) => {
      throw storeError("write a blob", error);
    });
  }

  // ---- channels (sqlite_channels.ts): written in the worker, read here ---------------------------

  get #channelSql(): ChannelSql {
    return this.#channels ??= sqliteChannelSql(this.#db);
  }

  /** One tracker alone writes this file: there is no fence to check (see acquireLease). */
  writeChannel(write: ChannelWrite): Promise<ChannelWriteResult> {
    return this.#writer.send<ChannelWriteResult>({ type: "channel", write }).catch((error) => {
      throw storeError("write a channel", error);
    });
  }

  getChannelKey(channel: string, key: string): Promise<ChannelKeyRecord | null> {
    return this.#channelReads.getChannelKey(channel, key);
  }

  listChannelKeys(channel: string, limit: number): Promise<{ keys: ChannelKeyRecord[]; revision: number }> {
    return this.#channelReads.listChannelKeys(channel, limit);
  }

  listChannels(limit: number): Promise<Array<{ name: string; keys: number }>> {
    return this.#channelReads.listChannels(limit);
  }

  readChannelChanges(channel: string, after: number, limit: number) {
    return this.#channelReads.readChannelChanges(channel, after, limit);
  }

  channelOwners(): Promise<ChannelOwner[]> {
    return this.#channelReads.channelOwners();
  }

  nextChannelExpiry(): Promise<number | null> {
    return this.#channelReads.nextChannelExpiry();
  }

  /** In the writer worker, as a commit is: the tracker's thread never waits for a delete. */
  purgeExpired(options: PurgeOptions): Promise<PurgeResult> {
    return this.#writer.send<PurgeResult>({ type: "purge", options }).catch((error) => {
      throw storeError("delete expired jobs", error);
    });
  }

  jobLogBytes(jobId: string): Promise<number> {
    return this.#read("the size of a job's logs", (stmt) => sqliteJobLogBytes(stmt, jobId));
  }

  space(): Promise<StoreSpace> {
    return this.#read("its size", sqliteSpace);
  }

  ping(): Promise<void> {
    return this.#read("a trivial query", (stmt) => {
      stmt("SELECT 1 FROM meta LIMIT 1").get();
    });
  }

  async close(): Promise<void> {
    await this.#writer.close();
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch { /* a checkpoint is an optimisation; closing is what matters */ }
    this.#db.close();
  }
}
