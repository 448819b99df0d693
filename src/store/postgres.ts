/**
 * The PostgreSQL store: the same records as SQLite's, in a database that several trackers can share,
 * only the one that holds the lease writing. This class composes the store from the files beside it:
 * the pool (postgres_store_pool.ts); the writes in their order (postgres_writes.ts: a small batch is one
 * statement, a data-modifying CTE per kind of record as postgres_single_statement.ts makes them, a large one a
 * transaction pipelined on one connection, postgres_transaction.ts); the reads by kind of record
 * (postgres_job_reads.ts, postgres_active_jobs.ts, postgres_reads.ts, postgres_blobs.ts,
 * channel_reads.ts); the secrets, the trackers and the lease.
 *
 * Durability follows the tracker's --sync: "normal" commits with synchronous_commit off (what the
 * tracker acknowledged survives the tracker's crash, and PostgreSQL's clean restart, as SQLite's WAL
 * survives the tracker's; a crash of PostgreSQL's machine may lose the last fraction of a second);
 * "full" waits for the server's flush, as the server is configured.
 */
import type { ArtifactRow, ArtifactsRecord, ArtifactTotals, BlobRecord } from "./blobs.ts";
import { type ChannelReads, channelReads } from "./channel_reads.ts";
import type { ChannelKeyRecord, ChannelOwner, ChannelWrite, ChannelWriteResult } from "./channels.ts";
import type { Fence, LeaseRenewalSource, LeaseState } from "./lease.ts";
import { loadPostgresActiveJobs } from "./postgres_active_jobs.ts";
import {
  completePostgresBlob,
  dropPostgresUpload,
  getPostgresBlob,
  listPostgresArtifacts,
  postgresJobArtifacts,
  putPostgresChunk,
  readPostgresChunk,
  recordPostgresArtifacts,
  usePostgresBlobs,
} from "./postgres_blobs.ts";
import { postgresChannelSql } from "./postgres_channels.ts";
import { countPostgresRows } from "./postgres_copy.ts";
import { PostgresLease } from "./postgres_lease.ts";
import {
  getPostgresJob,
  getPostgresTask,
  listPostgresAttempts,
  listPostgresJobs,
  listPostgresJobsPage,
  listPostgresTasks,
  listPostgresTasksPage,
  postgresJobLogBytes,
  readPostgresLogs,
} from "./postgres_job_reads.ts";
import {
  getPostgresAgents,
  getPostgresMeta,
  listPostgresAudit,
  loadPostgresAgents,
  loadPostgresJobSecrets,
  loadPostgresPeriodic,
  loadPostgresTokens,
  postgresSpace,
} from "./postgres_reads.ts";
import { getPostgresSecret, initPostgresSecrets, setPostgresSecrets } from "./postgres_secrets.ts";
import { PostgresStorePool } from "./postgres_store_pool.ts";
import { heartbeatPostgresTracker, listPostgresTrackers } from "./postgres_trackers.ts";
import { PostgresWriter } from "./postgres_writes.ts";
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
import type { StoreSync } from "./sqlite.ts";
import type { ExportPart } from "./sqlite_export.ts";
import type { SecretStore, Store } from "./store.ts";
import type { TrackerRecord, TrackerState } from "./trackers.ts";

export interface PostgresStoreOptions {
  sync?: StoreSync;
  /** The name PostgreSQL shows for these connections (pg_stat_activity). */
  applicationName?: string;
  /**
   * A tracker's store: every write must name the lease it is fenced by (a write without a fence is
   * refused), as several trackers may share the database and only the leader writes.
   */
  fenced?: boolean;
}

export class PostgresStore implements Store, SecretStore {
  /** The URL without its password: for messages. */
  readonly where: string;
  readonly secrets: SecretStore = this;
  #pool: PostgresStorePool;
  /** A connection of its own for the lease, opened at its first use: renewing it never waits for a pool slot. */
  #lease: PostgresLease;
  #sync: StoreSync | undefined;
  #applicationName: string | undefined;
  #writer: PostgresWriter;
  /** On the pool, through postgres_channels.ts's statements. */
  #channelReads: ChannelReads;

  private constructor(pool: PostgresStorePool, options: PostgresStoreOptions) {
    this.where = pool.where;
    this.#pool = pool;
    this.#writer = new PostgresWriter(pool, { fenced: options.fenced ?? false });
    this.#sync = options.sync;
    this.#applicationName = options.applicationName;
    this.#lease = new PostgresLease(pool.url, pool.settings);
    this.#channelReads = channelReads((what, body) => pool.read(what, (sql) => body(postgresChannelSql(sql))));
  }

  /** Connect to `url` and migrate its schema (creating it on an empty database). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    return new PostgresStore(await PostgresStorePool.open(url, options), options);
  }

  getMeta(key: string): Promise<string | null> {
    return this.#pool.read("meta", (sql) => getPostgresMeta(sql, key));
  }

  loadAgents(): Promise<AgentRecord[]> {
    return this.#pool.read("agents", loadPostgresAgents);
  }

  getAgents(ids: readonly string[]): Promise<AgentRecord[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#pool.read("agents", (sql) => getPostgresAgents(sql, ids));
  }

  loadActiveJobs(): Promise<ActiveJobs> {
    return this.#pool.read("active jobs", loadPostgresActiveJobs);
  }

  listJobs(options: { limit: number }): Promise<JobRecord[]> {
    return this.#pool.read("jobs", (sql) => listPostgresJobs(sql, options.limit));
  }

  getJob(id: string): Promise<JobRecord | null> {
    return this.#pool.read("job", (sql) => getPostgresJob(sql, id));
  }

  listTasks(jobId: string): Promise<TaskRecord[]> {
    return this.#pool.read("tasks", (sql) => listPostgresTasks(sql, jobId));
  }

  listJobsPage(query: JobQuery): Promise<JobRecord[]> {
    return this.#pool.read("jobs", (sql) => listPostgresJobsPage(sql, query));
  }

  listTasksPage(jobId: string, query: TaskQuery): Promise<TaskRecord[]> {
    return this.#pool.read("tasks", (sql) => listPostgresTasksPage(sql, jobId, query));
  }

  getTask(id: string): Promise<TaskRecord | null> {
    return this.#pool.read("task", (sql) => getPostgresTask(sql, id));
  }

  listAttempts(taskId: string): Promise<AttemptRecord[]> {
    return this.#pool.read("attempts", (sql) => listPostgresAttempts(sql, taskId));
  }

  readLogs(taskId: string, attempt: number, afterSeq: number, limit: number): Promise<LogRow[]> {
    return this.#pool.read("logs", (sql) => readPostgresLogs(sql, taskId, { attempt, afterSeq, limit }));
  }

  loadTokens(): Promise<TokenRecord[]> {
    return this.#pool.read("tokens", loadPostgresTokens);
  }

  loadPeriodic(): Promise<PeriodicRecord[]> {
    return this.#pool.read("periodic jobs", loadPostgresPeriodic);
  }

  loadJobSecrets(): Promise<JobSecretRecord[]> {
    return this.#pool.read("job secrets", loadPostgresJobSecrets);
  }

  listAudit(query: AuditQuery): Promise<StoredAuditRecord[]> {
    return this.#pool.read("the audit trail", (sql) => listPostgresAudit(sql, query));
  }

  getSecret(name: string): Promise<string | null> {
    return this.#pool.read("secrets", (sql) => getPostgresSecret(sql, name));
  }

  initSecrets(values: Record<string, string>): Promise<Record<string, string>> {
    return this.#pool.read("secrets", (sql) => initPostgresSecrets(sql, values));
  }

  setSecrets(values: Record<string, string>): Promise<void> {
    return this.#pool.read("secrets", (sql) => setPostgresSecrets(sql, values));
  }

  acquireLease(holder: string, ms: number): Promise<LeaseState | null> {
    return this.#lease.acquire(holder, ms);
  }

  renewLease(fence: Fence, ms: number): Promise<LeaseState | null> {
    return this.#lease.renew(fence, ms);
  }

  releaseLease(fence: Fence): Promise<void> {
    return this.#lease.release(fence);
  }

  /** The lease may be renewed from a worker thread, on a connection of its own (tracker/lease_worker.ts). */
  renewalSource(): LeaseRenewalSource {
    return { url: this.#pool.url, sync: this.#sync, applicationName: this.#applicationName };
  }

  heartbeatTracker(tracker: TrackerRecord): Promise<void> {
    return this.#pool.read("the trackers", (sql) => heartbeatPostgresTracker(sql, tracker));
  }

  listTrackers(): Promise<TrackerState[]> {
    return this.#pool.read("the trackers", listPostgresTrackers);
  }

  /** After every batch written before it; with a fence, in the transaction that checks it (postgres_writes.ts). */
  write(batch: WriteBatch, fence?: Fence): Promise<void> {
    return this.#writer.write(batch, fence);
  }

  purgeExpired(options: PurgeOptions): Promise<PurgeResult> {
    return this.#writer.purgeExpired(options);
  }

  // ---- channels (postgres_channels.ts) -----------------------------------------------------------

  writeChannel(write: ChannelWrite, fence?: Fence): Promise<ChannelWriteResult> {
    return this.#writer.writeChannel(write, fence);
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

  // ---- blobs (postgres_blobs.ts) -----------------------------------------------------------------

  getBlob(sha256: string): Promise<BlobRecord | null> {
    return this.#pool.read("a blob", (sql) => getPostgresBlob(sql, sha256));
  }
  readBlobChunk(sha256: string, seq: number): Promise<Uint8Array | null> {
    return this.#pool.read("a blob's chunk", (sql) => readPostgresChunk(sql, sha256, seq));
  }
  putBlobChunk(sha256: string, seq: number, data: Uint8Array, now: number): Promise<boolean> {
    return this.#pool.read("(write) a blob's chunk", (sql) => putPostgresChunk(sql, { sha256, seq, data, now }));
  }
  completeBlob(sha256: string, options: { size: number; chunks: number; now: number }): Promise<boolean> {
    return this.#pool.read("(write) a blob", (sql) => completePostgresBlob(sql, sha256, options));
  }
  dropUpload(sha256: string): Promise<void> {
    return this.#pool.read("(write) an upload", (sql) => dropPostgresUpload(sql, sha256));
  }
  useBlobs(jobId: string, sha256s: string[], now: number): Promise<string[]> {
    return this.#pool.read("(write) the uses of blobs", (sql) => usePostgresBlobs(sql, { jobId, sha256s, now }));
  }
  recordArtifacts(record: ArtifactsRecord): Promise<string[]> {
    return this.#pool.read("(write) a task's artifacts", (sql) => recordPostgresArtifacts(sql, record));
  }
  listArtifacts(taskId: string): Promise<ArtifactRow[]> {
    return this.#pool.read("a task's artifacts", (sql) => listPostgresArtifacts(sql, taskId));
  }
  jobArtifacts(jobId: string): Promise<ArtifactTotals> {
    return this.#pool.read("a job's artifacts", (sql) => postgresJobArtifacts(sql, jobId));
  }

  jobLogBytes(jobId: string): Promise<number> {
    return this.#pool.read("the size of a job's logs", (sql) => postgresJobLogBytes(sql, jobId));
  }

  space(): Promise<StoreSpace> {
    return this.#pool.read("its size", postgresSpace);
  }

  ping(): Promise<void> {
    return this.#pool.read("a trivial query", async (sql) => {
      await sql`SELECT 1`;
    });
  }

  /** Rows in each table a copy fills: all zero for an empty store. */
  contents(): Promise<Record<string, number>> {
    return this.#pool.read("tables", countPostgresRows);
  }

  /** Fill an empty store in one transaction (`fabric store copy`; postgres_writes.ts). */
  copyIn(source: AsyncIterable<ExportPart>, secrets: Record<string, string>): Promise<void> {
    return this.#writer.copyIn(source, secrets);
  }

  async close(): Promise<void> {
    await this.#pool.close(this.#writer.settled);
    await this.#lease.close();
  }
}
