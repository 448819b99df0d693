/**
 * The embedded store: one SQLite file in WAL mode. A commit is in the WAL before it is acknowledged,
 * so a killed tracker loses nothing it answered for; with `sync: "full"` each commit also waits for
 * the disk, so a power loss does not either. node:sqlite is synchronous, so a lock held by someone
 * else blocks the tracker while it waits: the busy timeout is short, and the writer retries later.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { FabricError } from "../protocol/mod.ts";
import type { LeaseState } from "./lease.ts";
import type { TrackerRecord, TrackerState } from "./trackers.ts";
import { MIGRATIONS } from "./migrations.ts";
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
import { auditPageQuery, containsPattern, emptyBatch, type Store } from "./store.ts";
import { storeError } from "./store_error.ts";
import {
  batchRows,
  insertRows,
  inTransaction,
  type PreparedStatements,
  prepareStatements,
  TASK_COLUMNS,
} from "./sqlite_rows.ts";
import {
  type Row,
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
import { WriterWorker } from "./sqlite_writer_client.ts";
import {
  type ArtifactRow,
  type ArtifactsRecord,
  type ArtifactTotals,
  BLOB_SQL,
  type BlobRecord,
  toArtifact,
  toArtifactTotals,
  toBlob,
} from "./blobs.ts";
import type { BlobWrite } from "./sqlite_blobs.ts";
import {
  CHANNEL_SQL,
  type ChannelKeyRecord,
  type ChannelOwner,
  type ChannelSql,
  type ChannelWrite,
  type ChannelWriteResult,
  listChannelKeys,
  readChannelChanges,
  toChannelKey,
} from "./channels.ts";
import { sqliteChannelSql } from "./sqlite_channels.ts";

/** normal: survives a killed tracker (WAL); full: also a power loss, at the cost of a disk wait per commit. */
export type StoreSync = "normal" | "full";

const TASK_SELECT = TASK_COLUMNS.join(", ");
/** Rows per message to the writer worker. */
const CHUNK_ROWS = 5000;
/**
 * A batch this small is committed on the tracker's thread when the worker has nothing to do: a
 * commit without a disk wait takes ~0.1 ms, a round trip to the worker several times that, and a
 * one-task job has three commits between its submit and its end.
 */
const INLINE_ROWS = 64;
const INLINE_LOG_BYTES = 32 * 1024;
/** The tracker's own commits leave their pages in the WAL; the worker copies them out this often. */
const CHECKPOINT_EVERY = 256;

export class SqliteStore implements Store {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #writer: WriterWorker;
  #sync: StoreSync;
  #inline: PreparedStatements | null = null;
  #inlineCommits = 0;
  #channels: ChannelSql | null = null;

  private constructor(path: string, db: DatabaseSync, sync: StoreSync) {
    this.#db = db;
    this.#sync = sync;
    this.#writer = new WriterWorker(path, sync);
  }

  /** Open (creating if needed) and migrate the database at `path`. */
  static open(path: string, options: { sync?: StoreSync } = {}): SqliteStore {
    const sync = options.sync ?? "normal";
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
      // Before the first table: large pages suit logs (a 256 KB chunk is 16 pages, not 64).
      db.exec("PRAGMA page_size = 16384");
      // No checkpoints on this thread: one copies and syncs pages for as long as it takes (the worker does them).
      db.exec(
        `PRAGMA busy_timeout = 250; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${sync.toUpperCase()}; ` +
          "PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 0;",
      );
    } catch (error) {
      throw new FabricError("unavailable", `Cannot open the store "${path}": ${(error as Error).message}`);
    }
    // Migrate on this connection before the writer opens its own.
    migrate(db, path);
    return new SqliteStore(path, db, sync);
  }

  get schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #read<T>(what: string, body: () => T): Promise<T> {
    try {
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(storeError(`read ${what}`, error));
    }
  }

  getMeta(key: string): Promise<string | null> {
    return this.#read("meta", () => {
      const row = this.#stmt("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
      return row ? String(row.value) : null;
    });
  }

  loadAgents(): Promise<AgentRecord[]> {
    return this.#read("agents", () => (this.#stmt("SELECT * FROM agents ORDER BY name").all() as Row[]).map(toAgent));
  }

  getAgents(ids: readonly string[]): Promise<AgentRecord[]> {
    return this.#read("agents", () => {
      const statement = this.#stmt("SELECT * FROM agents WHERE id = ?");
      const rows = ids.map((id) => statement.get(id) as Row | undefined).filter((row) => row !== undefined);
      return rows.map(toAgent).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
  }

  loadActiveJobs(): Promise<ActiveJobs> {
    return this.#read("active jobs", () => {
      const active: ActiveJobs = { jobs: [], tasks: [], attempts: [], unreadable: [] };
      const rows = this.#stmt("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id")
        .all() as Row[];
      for (const row of rows) {
        const id = String(row.id);
        // Each job on its own: one whose rows do not parse is named (the tracker sets it aside), not thrown.
        let job: JobRecord, tasks: TaskRecord[], attempts: AttemptRecord[];
        try {
          job = toJob(row);
          tasks = (this.#stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ? ORDER BY ord`).all(id) as Row[])
            .map(toTask);
          attempts = (this.#stmt(
            "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt WHERE t.job_id = ?",
          ).all(id) as Row[]).map(toAttempt);
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          active.unreadable.push({ jobId: id, reason: `its stored rows are not valid: ${error.message}` });
          continue;
        }
        active.jobs.push(job);
        for (const task of tasks) active.tasks.push(task);
        for (const attempt of attempts) active.attempts.push(attempt);
      }
      return active;
    });
  }

  listJobs(options: { limit: number }): Promise<JobRecord[]> {
    return this.#read(
      "jobs",
      () =>
        (this.#stmt("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?").all(options.limit) as Row[]).map(
          toJob,
        ),
    );
  }

  getJob(id: string): Promise<JobRecord | null> {
    return this.#read("job", () => {
      const row = this.#stmt("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
      return row ? toJob(row) : null;
    });
  }

  listTasks(jobId: string): Promise<TaskRecord[]> {
    return this.#read(
      "tasks",
      () =>
        (this.#stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ? ORDER BY ord`).all(jobId) as Row[]).map(toTask),
    );
  }

  listJobsPage(query: JobQuery): Promise<JobRecord[]> {
    const like = query.nameContains ? containsPattern(query.nameContains) : null;
    return this.#read("jobs", () =>
      (this.#stmt(
        `SELECT * FROM jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\')
         ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4`,
      ).all(query.state ?? null, like, query.limit, query.offset) as Row[]).map(toJob));
  }

  listTasksPage(jobId: string, query: TaskQuery): Promise<TaskRecord[]> {
    return this.#read("tasks", () =>
      (this.#stmt(
        `SELECT ${TASK_SELECT} FROM tasks WHERE job_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY ord LIMIT ?3 OFFSET ?4`,
      ).all(jobId, query.state ?? null, query.limit, query.offset) as Row[]).map(toTask));
  }

  getTask(id: string): Promise<TaskRecord | null> {
    return this.#read("task", () => {
      const row = this.#stmt(`SELECT ${TASK_SELECT} FROM tasks WHERE id = ?`).get(id) as Row | undefined;
      return row ? toTask(row) : null;
    });
  }

  listAttempts(taskId: string): Promise<AttemptRecord[]> {
    return this.#read(
      "attempts",
      () =>
        (this.#stmt("SELECT * FROM attempts WHERE task_id = ? ORDER BY attempt").all(taskId) as Row[]).map(toAttempt),
    );
  }

  readLogs(taskId: string, attempt: number, afterSeq: number, limit: number): Promise<LogRow[]> {
    return this.#read("logs", () =>
      (this.#stmt(
        "SELECT * FROM logs WHERE task_id = ? AND attempt = ? AND seq > ? ORDER BY seq LIMIT ?",
      ).all(taskId, attempt, afterSeq, limit) as Row[]).map(toLog));
  }

  loadTokens(): Promise<TokenRecord[]> {
    return this.#read(
      "tokens",
      () => (this.#stmt("SELECT * FROM tokens ORDER BY name, created_at").all() as Row[]).map(toToken),
    );
  }

  loadJobSecrets(): Promise<JobSecretRecord[]> {
    return this.#read(
      "secrets",
      () => (this.#stmt("SELECT * FROM job_secrets ORDER BY name").all() as Row[]).map(toJobSecret),
    );
  }

  listAudit(query: AuditQuery): Promise<StoredAuditRecord[]> {
    const { text, params } = auditPageQuery(query);
    return this.#read(
      "the audit trail",
      () => (this.#stmt(text.replaceAll("$", "?")).all(...params) as Row[]).map(toAudit),
    );
  }

  loadPeriodic(): Promise<PeriodicRecord[]> {
    return this.#read(
      "periodic jobs",
      () => (this.#stmt("SELECT * FROM periodic ORDER BY name").all() as Row[]).map(toPeriodic),
    );
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

  /**
   * Atomically persist a batch: a small one here if nothing is being written, else in the writer worker
   * (see sqlite_writer.ts). A fence is always held (see acquireLease).
   */
  write(batch: WriteBatch): Promise<void> {
    if (this.#sync === "normal" && this.#writer.idle && small(batch)) {
      try {
        this.#writeHere(batch);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(storeError("write", error));
      }
    }
    const done = batch.tasks.length + batch.logs.length <= CHUNK_ROWS
      ? this.#writer.send({ type: "write", rows: batchRows(batch) })
      : this.#writeInParts(batch);
    return done.catch((error) => {
      throw storeError("write", error);
    });
  }

  // ---- blobs (blobs.ts): written in the worker, read here --------------------------------------

  getBlob(sha256: string): Promise<BlobRecord | null> {
    return this.#read("a blob", () => {
      const row = this.#stmt(BLOB_SQL.getBlob).get(sha256) as Row | undefined;
      return row ? toBlob(row) : null;
    });
  }

  readBlobChunk(sha256: string, seq: number): Promise<Uint8Array | null> {
    return this.#read("a blob's chunk", () => {
      const row = this.#stmt(BLOB_SQL.readChunk).get(sha256, seq) as Row | undefined;
      return row ? new Uint8Array(row.data as Uint8Array) : null;
    });
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
    return this.#read(
      "a task's artifacts",
      () => (this.#stmt(BLOB_SQL.listArtifacts).all(taskId) as Row[]).map(toArtifact),
    );
  }

  jobArtifacts(jobId: string): Promise<ArtifactTotals> {
    return this.#read("a job's artifacts", () => toArtifactTotals(this.#stmt(BLOB_SQL.jobArtifacts).get(jobId) as Row));
  }

  // ---- channels (channels.ts): written in the worker, read here -------------------------------

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
    return this.#read("a channel's key", () => {
      const row = this.#stmt(CHANNEL_SQL.getKey).get(channel, key) as Row | undefined;
      return row ? toChannelKey(row) : null;
    });
  }

  listChannelKeys(channel: string, limit: number): Promise<{ keys: ChannelKeyRecord[]; revision: number }> {
    return listChannelKeys(this.#channelSql, channel, limit).catch((error) => {
      throw storeError("read a channel's keys", error);
    });
  }

  listChannels(limit: number): Promise<Array<{ name: string; keys: number }>> {
    return this.#read("the channels", () =>
      (this.#stmt(CHANNEL_SQL.listChannels).all(limit) as Row[]).map((r) => ({
        name: String(r.name),
        keys: Number(r.keys),
      })));
  }

  readChannelChanges(channel: string, after: number, limit: number) {
    return readChannelChanges(this.#channelSql, { channel, after, limit }).catch((error) => {
      throw storeError("read a channel's changes", error);
    });
  }

  channelOwners(): Promise<ChannelOwner[]> {
    return this.#read("the owners of channel keys", () =>
      (this.#stmt(CHANNEL_SQL.owners).all() as Row[]).map((r) => ({
        task: String(r.owner_task),
        attempt: Number(r.owner_attempt),
      })));
  }

  nextChannelExpiry(): Promise<number | null> {
    return this.#read("the next expiry of channel keys", () => {
      const at = (this.#stmt(CHANNEL_SQL.nextExpiry).get() as Row).at;
      return at === null || at === undefined ? null : Number(at);
    });
  }

  #blobWrite<T>(write: BlobWrite): Promise<T> {
    return this.#writer.send<T>({ type: "blob", write }).catch((error) => {
      throw storeError("write a blob", error);
    });
  }

  /** In the writer worker, as a commit is: the tracker's thread never waits for a delete. */
  purgeExpired(options: PurgeOptions): Promise<PurgeResult> {
    return this.#writer.send<PurgeResult>({ type: "purge", options }).catch((error) => {
      throw storeError("delete expired jobs", error);
    });
  }

  jobLogBytes(jobId: string): Promise<number> {
    return this.#read("the size of a job's logs", () => {
      // octet_length reads a value's size from its record header, not the value itself.
      const row = this.#stmt(
        "SELECT coalesce(sum(octet_length(l.data)), 0) AS bytes FROM tasks t JOIN logs l ON l.task_id = t.id WHERE t.job_id = ?",
      ).get(jobId) as Row;
      return Number(row.bytes);
    });
  }

  space(): Promise<StoreSpace> {
    return this.#read("its size", () => {
      const pages = Number((this.#stmt("PRAGMA page_count").get() as Row).page_count);
      const free = Number((this.#stmt("PRAGMA freelist_count").get() as Row).freelist_count);
      const size = Number((this.#stmt("PRAGMA page_size").get() as Row).page_size);
      return { bytes: pages * size, freeBytes: free * size };
    });
  }

  ping(): Promise<void> {
    return this.#read("a trivial query", () => {
      this.#stmt("SELECT 1 FROM meta LIMIT 1").get();
    });
  }

  #writeHere(batch: WriteBatch): void {
    const statements = this.#inline ??= prepareStatements(this.#db);
    inTransaction(this.#db, () => insertRows(statements, batchRows(batch)));
    if (++this.#inlineCommits % CHECKPOINT_EVERY === 0) {
      this.#writer.send({ type: "checkpoint" }).catch(() => {/* the next one tries again */});
    }
  }

  /**
   * A large batch (a job of 100,000 tasks) goes in parts of one transaction: rows are made and
   * copied to the worker a chunk at a time, not all at once (which doubled the tracker's memory).
   */
  #writeInParts(batch: WriteBatch): Promise<void> {
    return this.#writer.alone(async (send) => {
      await send({ type: "begin" });
      try {
        const rest = { ...batch, tasks: [], logs: [], setAside: [] };
        await send({ type: "rows", rows: batchRows(rest) });
        for (const key of ["tasks", "logs"] as const) {
          for (let i = 0; i < batch[key].length; i += CHUNK_ROWS) {
            const part = { ...emptyBatch(), [key]: batch[key].slice(i, i + CHUNK_ROWS) };
            await send({ type: "rows", rows: batchRows(part) });
          }
        }
        // Last, as in a batch written at once: it overrides the rows above.
        await send({ type: "rows", rows: batchRows({ ...emptyBatch(), setAside: batch.setAside }) });
        await send({ type: "commit" });
      } catch (error) {
        await send({ type: "rollback" }).catch(() => {});
        throw error;
      }
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

function schemaVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
}

function migrate(db: DatabaseSync, path: string): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new FabricError(
      "unavailable",
      `The store "${path}" has schema version ${current}, newer than this fabric (${MIGRATIONS.length}); upgrade fabric`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[version]);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

function small(batch: WriteBatch): boolean {
  const rows = batch.meta.size + batch.agents.length + batch.newJobs.length + batch.jobs.length +
    batch.tasks.length + batch.attempts.length + batch.logs.length + batch.setAside.length + batch.tokens.length +
    batch.jobSecrets.length + batch.deletedJobSecrets.length + batch.audit.length + batch.periodic.length +
    batch.deletedPeriodic.length;
  if (rows > INLINE_ROWS) return false;
  let bytes = 0;
  for (const log of batch.logs) bytes += log.data.length;
  return bytes <= INLINE_LOG_BYTES;
}
