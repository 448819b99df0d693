/**
 * The PostgreSQL store: the same records as SQLite's, in a database that several trackers can share
 * (for now one tracker uses it; leases come next). A batch is one statement when it is small (a
 * data-modifying CTE per kind of record: one round trip, see postgres_rows.ts), else one transaction
 * whose statements are pipelined on one connection, BEGIN to COMMIT (see `#transaction`). Statements
 * are kept prepared on their connection (see `#statement`).
 *
 * Durability follows the tracker's --sync: "normal" commits with synchronous_commit off (what the
 * tracker acknowledged survives the tracker's crash, and PostgreSQL's clean restart, as SQLite's WAL
 * survives the tracker's; a crash of PostgreSQL's machine may lose the last fraction of a second);
 * "full" waits for the server's flush, as the server is configured.
 */
import postgres from "postgres";
import { FabricError } from "../protocol/mod.ts";
import { migratePostgres } from "./postgres_migrations.ts";
import { connectionBroken, openPool, poolSettings } from "./postgres_pool.ts";
import { PostgresLease } from "./postgres_lease.ts";
import { postgresPurgeOps } from "./postgres_purge.ts";
import type { ArtifactRow, ArtifactsRecord, ArtifactTotals, BlobRecord } from "./blobs.ts";
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
import { purgeRounds } from "./purge_rounds.ts";
import { batchStatements, copyStatements, singleStatement, type Statement } from "./postgres_rows.ts";
import type { ExportPart } from "./sqlite_export.ts";
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
import { storeError, type StoreSync } from "./sqlite.ts";
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
import { type Fence, LeaseLostError, type LeaseRenewalSource, type LeaseState } from "./lease.ts";
import {
  CHANNEL_SQL,
  type ChannelKeyRecord,
  type ChannelOwner,
  type ChannelWrite,
  type ChannelWriteResult,
  listChannelKeys,
  readChannelChanges,
  toChannelKey,
} from "./channels.ts";
import { postgresChannelSql, writePostgresChannel } from "./postgres_channels.ts";
import { auditPageQuery, containsPattern, type SecretStore, type Store } from "./store.ts";
import type { TrackerRecord, TrackerState } from "./trackers.ts";

/** Connections a tracker opens: one writes at a time, the others read. */
export const POSTGRES_CONNECTIONS = 4;
/** Statements sent ahead of their answers in a large batch (a small one is sent whole). */
const PIPELINE_WINDOW = 4;
/**
 * Rows a cursor fetches at a time: each fetch's rows are made records in one pass, which must stay
 * short (a new leader reading a million tasks renews its lease meanwhile; 5,000 took up to 300 ms on
 * a busy 2-core machine, 1,000 take a fifth of it, and cost the read ~1 ms a round trip more).
 */
const CURSOR_ROWS = 1000;
/** The tables a store copy must find empty. */
const DATA_TABLES = [
  "meta",
  "secrets",
  "agents",
  "jobs",
  "tasks",
  "attempts",
  "logs",
  "tokens",
  "job_secrets",
  "audit",
  "periodic",
] as const;
/** The tables whose size is the store's. */
const SIZED_TABLES = [...DATA_TABLES, "purging", "leases", "blobs", "blob_chunks", "job_blobs", "task_artifacts"];

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

/** PostgreSQL's error code for a fenced write refused (postgres_migrations.ts, fabric_fence). */
const FENCE_REFUSED = "FB001";

export class PostgresStore implements Store, SecretStore {
  /** The URL without its password: for messages. */
  readonly where: string;
  readonly secrets: SecretStore = this;
  #sql: postgres.Sql;
  /** A connection of its own for the lease, opened at its first use: renewing it never waits for a pool slot. */
  #lease: PostgresLease;
  #sync: StoreSync | undefined;
  #applicationName: string | undefined;
  #url: string;
  #settings: postgres.Options<Record<string, never>>;
  #fenced: boolean;
  /** The write in progress: the next waits for it, so batches commit in the order they were written. */
  #writes: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    where: string,
    sql: postgres.Sql,
    open: {
      url: string;
      settings: postgres.Options<Record<string, never>>;
      fenced: boolean;
      sync?: StoreSync;
      applicationName?: string;
    },
  ) {
    this.where = where;
    this.#sql = sql;
    this.#url = open.url;
    this.#settings = open.settings;
    this.#fenced = open.fenced;
    this.#sync = open.sync;
    this.#applicationName = open.applicationName;
    this.#lease = new PostgresLease(open.url, open.settings);
  }

  /** Connect to `url` and migrate its schema (creating it on an empty database). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const where = redactUrl(url);
    const settings = poolSettings(options);
    let sql: postgres.Sql;
    try {
      sql = openPool(url, { ...settings, max: POSTGRES_CONNECTIONS });
    } catch (error) {
      throw new FabricError("bad_request", `Cannot use the store ${where}: ${messageOf(error)}`);
    }
    try {
      await migratePostgres(sql, where);
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (error instanceof FabricError) throw error;
      throw new FabricError("unavailable", `Cannot open the store ${where}: ${messageOf(error)}`);
    }
    return new PostgresStore(where, sql, {
      url,
      settings,
      fenced: options.fenced ?? false,
      sync: options.sync,
      applicationName: options.applicationName,
    });
  }

  async #read<T>(what: string, body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = this.#sql;
    try {
      return await body(sql);
    } catch (error) {
      this.#dropIfBroken(sql, error);
      throw storeError(`read ${what}`, error);
    }
  }

  /**
   * After a failure of the connection itself (the server restarting, the network cut), the pool is
   * replaced by a new one, and the old one ended at once (what still waits on it fails, to be tried
   * again). postgres.js's own reconnection, after a restart of PostgreSQL, left queries hanging for up
   * to 16 s and then failing with "the database system is shutting down" (measured here: five clients
   * querying through a 4 s restart); with the pool replaced, none took over 1.5 s.
   */
  #dropIfBroken(sql: postgres.Sql, error: unknown): void {
    if (this.#closed || this.#sql !== sql || !connectionBroken(error)) return;
    this.#sql = openPool(this.#url, { ...this.#settings, max: POSTGRES_CONNECTIONS });
    sql.end({ timeout: 0 }).catch(() => {});
  }

  getMeta(key: string): Promise<string | null> {
    return this.#read("meta", async (sql) => {
      const [row] = await sql`SELECT value FROM meta WHERE key = ${key}`;
      return row ? String(row.value) : null;
    });
  }

  loadAgents(): Promise<AgentRecord[]> {
    return this.#read("agents", async (sql) => (await sql`SELECT * FROM agents ORDER BY name`).map(toAgent));
  }

  getAgents(ids: readonly string[]): Promise<AgentRecord[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#read(
      "agents",
      async (sql) => (await sql`SELECT * FROM agents WHERE id = ANY(${[...ids]}::text[]) ORDER BY name`).map(toAgent),
    );
  }

  loadActiveJobs(): Promise<ActiveJobs> {
    // One snapshot for the three reads: the jobs, their tasks and current attempts agree. Tasks come
    // through a cursor, a chunk at a time: a million queued tasks are never all rows and records at once.
    return this.#read("active jobs", (sql) =>
      sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
        // Each job on its own: one whose rows do not parse is named (the tracker sets it aside), not thrown.
        const unreadable = new Map<string, string>();
        const read = <T>(jobId: string, row: postgres.Row, to: (row: postgres.Row) => T, into: T[]) => {
          if (unreadable.has(jobId)) return;
          try {
            into.push(to(row));
          } catch (error) {
            if (!(error instanceof SyntaxError)) throw error;
            unreadable.set(jobId, `its stored rows are not valid: ${error.message}`);
          }
        };
        const jobRows = await tx`SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id`;
        const jobs: JobRecord[] = [];
        for (const row of jobRows) read(String(row.id), row, toJob, jobs);
        const tasks: TaskRecord[] = [];
        const cursor = tx`
          SELECT t.* FROM tasks t JOIN jobs j ON j.id = t.job_id
          WHERE j.state IN ('queued', 'running') ORDER BY j.created_at, j.id, t.ord`.cursor(CURSOR_ROWS);
        for await (const rows of cursor) for (const row of rows) read(String(row.job_id), row, toTask, tasks);
        const attempts: AttemptRecord[] = [];
        const attemptRows = await tx`
          SELECT a.*, t.job_id AS job_id FROM attempts a JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt
          JOIN jobs j ON j.id = t.job_id
          WHERE j.state IN ('queued', 'running') ORDER BY j.created_at, j.id, t.ord`;
        const attemptJobs: string[] = [];
        for (const row of attemptRows) {
          const before = attempts.length;
          read(String(row.job_id), row, toAttempt, attempts);
          if (attempts.length > before) attemptJobs.push(String(row.job_id));
        }
        const readable = (jobId: string) => !unreadable.has(jobId);
        return {
          jobs: jobs.filter((job) => readable(job.id)),
          tasks: unreadable.size === 0 ? tasks : tasks.filter((task) => readable(task.jobId)),
          attempts: attempts.filter((_, i) => readable(attemptJobs[i])),
          // In the jobs' order, as SQLite names them.
          unreadable: jobRows.map((row) => String(row.id)).filter((id) => !readable(id))
            .map((jobId) => ({ jobId, reason: unreadable.get(jobId)! })),
        };
      }));
  }

  listJobs(options: { limit: number }): Promise<JobRecord[]> {
    return this.#read(
      "jobs",
      async (sql) =>
        (await sql`SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ${options.limit}`).map(toJob),
    );
  }

  getJob(id: string): Promise<JobRecord | null> {
    return this.#read("job", async (sql) => {
      const [row] = await sql`SELECT * FROM jobs WHERE id = ${id}`;
      return row ? toJob(row) : null;
    });
  }

  listTasks(jobId: string): Promise<TaskRecord[]> {
    return this.#read(
      "tasks",
      async (sql) => (await sql`SELECT * FROM tasks WHERE job_id = ${jobId} ORDER BY ord`).map(toTask),
    );
  }

  listJobsPage(query: JobQuery): Promise<JobRecord[]> {
    return this.#read("jobs", async (sql) =>
      (await sql`
        SELECT * FROM jobs WHERE TRUE
        ${query.state ? sql`AND state = ${query.state}` : sql``}
        ${query.nameContains ? sql`AND name ILIKE ${containsPattern(query.nameContains)} ESCAPE '\\'` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${query.limit} OFFSET ${query.offset}`).map(toJob));
  }

  listTasksPage(jobId: string, query: TaskQuery): Promise<TaskRecord[]> {
    return this.#read("tasks", async (sql) =>
      (await sql`
        SELECT * FROM tasks WHERE job_id = ${jobId} ${query.state ? sql`AND state = ${query.state}` : sql``}
        ORDER BY ord LIMIT ${query.limit} OFFSET ${query.offset}`).map(toTask));
  }

  getTask(id: string): Promise<TaskRecord | null> {
    return this.#read("task", async (sql) => {
      const [row] = await sql`SELECT * FROM tasks WHERE id = ${id}`;
      return row ? toTask(row) : null;
    });
  }

  listAttempts(taskId: string): Promise<AttemptRecord[]> {
    return this.#read(
      "attempts",
      async (sql) => (await sql`SELECT * FROM attempts WHERE task_id = ${taskId} ORDER BY attempt`).map(toAttempt),
    );
  }

  readLogs(taskId: string, attempt: number, afterSeq: number, limit: number): Promise<LogRow[]> {
    return this.#read("logs", async (sql) =>
      (await sql`
        SELECT * FROM logs WHERE task_id = ${taskId} AND attempt = ${attempt} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${limit}`).map(toLog));
  }

  loadTokens(): Promise<TokenRecord[]> {
    return this.#read(
      "tokens",
      async (sql) => (await sql`SELECT * FROM tokens ORDER BY name, created_at`).map(toToken),
    );
  }

  loadPeriodic(): Promise<PeriodicRecord[]> {
    return this.#read(
      "periodic jobs",
      async (sql) => (await sql`SELECT * FROM periodic ORDER BY name`).map(toPeriodic),
    );
  }

  loadJobSecrets(): Promise<JobSecretRecord[]> {
    return this.#read(
      "job secrets",
      async (sql) => (await sql`SELECT * FROM job_secrets ORDER BY name`).map(toJobSecret),
    );
  }

  listAudit(query: AuditQuery): Promise<StoredAuditRecord[]> {
    const { text, params } = auditPageQuery(query);
    return this.#read("the audit trail", async (sql) => (await sql.unsafe(text, params)).map(toAudit));
  }

  getSecret(name: string): Promise<string | null> {
    return this.#read("secrets", async (sql) => {
      const [row] = await sql`SELECT value FROM secrets WHERE name = ${name}`;
      return row ? String(row.value) : null;
    });
  }

  initSecrets(values: Record<string, string>): Promise<Record<string, string>> {
    const names = Object.keys(values);
    return this.#read("secrets", async (sql) => {
      await sql`INSERT INTO secrets (name, value) SELECT * FROM unnest(${names}::text[], ${
        names.map((name) => values[name])
      }::text[]) ON CONFLICT (name) DO NOTHING`;
      const rows = await sql`SELECT name, value FROM secrets WHERE name = ANY(${names}::text[])`;
      return Object.fromEntries(rows.map((row) => [String(row.name), String(row.value)]));
    });
  }

  setSecrets(values: Record<string, string>): Promise<void> {
    const names = Object.keys(values);
    return this.#read("secrets", async (sql) => {
      await sql`INSERT INTO secrets (name, value) SELECT * FROM unnest(${names}::text[], ${
        names.map((name) => values[name])
      }::text[]) ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
    });
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
    return { url: this.#url, sync: this.#sync, applicationName: this.#applicationName };
  }

  heartbeatTracker(tracker: TrackerRecord): Promise<void> {
    return this.#read("the trackers", async (sql) => {
      await sql`
        INSERT INTO trackers (id, url, version, started_at, last_seen)
        VALUES (${tracker.id}, ${tracker.url}, ${tracker.version}, ${tracker.startedAt}, fabric_now_ms())
        ON CONFLICT (id) DO UPDATE SET url = excluded.url, version = excluded.version,
          started_at = excluded.started_at, last_seen = excluded.last_seen`;
    });
  }

  listTrackers(): Promise<TrackerState[]> {
    return this.#read("the trackers", async (sql) => {
      const rows = await sql`
        SELECT t.*, (l.holder IS NOT NULL) AS leads FROM trackers t
        LEFT JOIN leases l ON l.name = 'leader' AND l.holder = t.id AND l.expires_at > fabric_now_ms()
        ORDER BY t.id`;
      return rows.map((row) => ({
        id: String(row.id),
        url: String(row.url),
        version: String(row.version),
        startedAt: Number(row.started_at),
        lastSeen: Number(row.last_seen),
        leads: Boolean(row.leads),
      }));
    });
  }

  /**
   * Atomically persist a batch: all of it or none of it, after every batch written before it. With a
   * fence, the same transaction checks the lease (fabric_fence) and holds its row until it commits.
   */
  write(batch: WriteBatch, fence?: Fence): Promise<void> {
    if (!fence && this.#fenced) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it writes nothing to the store"));
    }
    let sql = this.#sql;
    const done = this.#writes.then(() => {
      sql = this.#sql;
      const single = singleStatement(batch, fence && fenceCall(fence));
      if (single) return this.#statement(sql, single);
      return this.#transaction(sql, batchStatements(batch), fence);
    });
    this.#writes = done.catch(() => {});
    return done.catch((error) => {
      this.#dropIfBroken(sql, error);
      if ((error as { code?: string })?.code === FENCE_REFUSED) {
        throw new LeaseLostError(`This tracker no longer leads: ${(error as Error).message}`);
      }
      throw storeError("write", error);
    });
  }

  /** One bounded step of retention, in a transaction of its own beside the tracker's writes (it deletes only ended jobs' rows). */
  purgeExpired(options: PurgeOptions): Promise<PurgeResult> {
    const fence = options.fence;
    if (!fence && this.#fenced) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it deletes nothing from the store"));
    }
    const sql = this.#sql;
    return sql.begin(async (tx) => {
      if (fence) {
        const check = fenceCall(fence);
        await tx.unsafe(check.text, check.params.map((values, i) => tx.typed(values as never, check.oids[i])));
      }
      return purgeRounds(postgresPurgeOps(tx), options);
    }).catch((error) => {
      this.#dropIfBroken(sql, error);
      if ((error as { code?: string })?.code === FENCE_REFUSED) {
        throw new LeaseLostError(`This tracker no longer leads: ${(error as Error).message}`);
      }
      throw storeError("delete expired jobs", error);
    });
  }

  // ---- channels (channels.ts) ------------------------------------------------------------------

  writeChannel(write: ChannelWrite, fence?: Fence): Promise<ChannelWriteResult> {
    if (!fence && this.#fenced) {
      return Promise.reject(new LeaseLostError("This tracker does not lead: it writes nothing to the store"));
    }
    const sql = this.#sql;
    return writePostgresChannel(sql, write, fence).catch((error) => {
      this.#dropIfBroken(sql, error);
      if ((error as { code?: string })?.code === FENCE_REFUSED) {
        throw new LeaseLostError(`This tracker no longer leads: ${(error as Error).message}`);
      }
      throw storeError("write a channel", error);
    });
  }

  getChannelKey(channel: string, key: string): Promise<ChannelKeyRecord | null> {
    return this.#read("a channel's key", async (sql) => {
      const [row] = await postgresChannelSql(sql).all(CHANNEL_SQL.getKey, [channel, key]);
      return row ? toChannelKey(row) : null;
    });
  }

  listChannelKeys(channel: string, limit: number): Promise<{ keys: ChannelKeyRecord[]; revision: number }> {
    return this.#read("a channel's keys", (sql) => listChannelKeys(postgresChannelSql(sql), channel, limit));
  }

  listChannels(limit: number): Promise<Array<{ name: string; keys: number }>> {
    return this.#read(
      "the channels",
      async (sql) =>
        (await postgresChannelSql(sql).all(CHANNEL_SQL.listChannels, [limit])).map((r) => ({
          name: String(r.name),
          keys: Number(r.keys),
        })),
    );
  }

  readChannelChanges(channel: string, after: number, limit: number) {
    return this.#read(
      "a channel's changes",
      (sql) => readChannelChanges(postgresChannelSql(sql), { channel, after, limit }),
    );
  }

  channelOwners(): Promise<ChannelOwner[]> {
    return this.#read(
      "the owners of channel keys",
      async (sql) =>
        (await postgresChannelSql(sql).all(CHANNEL_SQL.owners, [])).map((r) => ({
          task: String(r.owner_task),
          attempt: Number(r.owner_attempt),
        })),
    );
  }

  nextChannelExpiry(): Promise<number | null> {
    return this.#read("the next expiry of channel keys", async (sql) => {
      const [row] = await postgresChannelSql(sql).all(CHANNEL_SQL.nextExpiry, []);
      return row?.at === null || row?.at === undefined ? null : Number(row.at);
    });
  }

  // ---- blobs (blobs.ts) ----------------------------------------------------------------------

  getBlob(sha256: string): Promise<BlobRecord | null> {
    return this.#read("a blob", (sql) => getPostgresBlob(sql, sha256));
  }
  readBlobChunk(sha256: string, seq: number): Promise<Uint8Array | null> {
    return this.#read("a blob's chunk", (sql) => readPostgresChunk(sql, sha256, seq));
  }
  putBlobChunk(sha256: string, seq: number, data: Uint8Array, now: number): Promise<boolean> {
    return this.#read("(write) a blob's chunk", (sql) => putPostgresChunk(sql, { sha256, seq, data, now }));
  }
  completeBlob(sha256: string, options: { size: number; chunks: number; now: number }): Promise<boolean> {
    return this.#read("(write) a blob", (sql) => completePostgresBlob(sql, sha256, options));
  }
  dropUpload(sha256: string): Promise<void> {
    return this.#read("(write) an upload", (sql) => dropPostgresUpload(sql, sha256));
  }
  useBlobs(jobId: string, sha256s: string[], now: number): Promise<string[]> {
    return this.#read("(write) the uses of blobs", (sql) => usePostgresBlobs(sql, { jobId, sha256s, now }));
  }
  recordArtifacts(record: ArtifactsRecord): Promise<string[]> {
    return this.#read("(write) a task's artifacts", (sql) => recordPostgresArtifacts(sql, record));
  }
  listArtifacts(taskId: string): Promise<ArtifactRow[]> {
    return this.#read("a task's artifacts", (sql) => listPostgresArtifacts(sql, taskId));
  }
  jobArtifacts(jobId: string): Promise<ArtifactTotals> {
    return this.#read("a job's artifacts", (sql) => postgresJobArtifacts(sql, jobId));
  }

  jobLogBytes(jobId: string): Promise<number> {
    // octet_length of a stored (TOASTed) value is read from its header, not by fetching it.
    return this.#read("the size of a job's logs", async (sql) => {
      const [row] = await sql`
        SELECT coalesce(sum(octet_length(l.data)), 0) AS bytes FROM tasks t JOIN logs l ON l.task_id = t.id
        WHERE t.job_id = ${jobId}`;
      return Number(row.bytes);
    });
  }

  space(): Promise<StoreSpace> {
    return this.#read("its size", async (sql) => {
      const [row] = await sql`
        SELECT coalesce(sum(pg_total_relation_size(to_regclass(name))), 0) AS bytes FROM unnest(${SIZED_TABLES}::text[]) AS name`;
      return { bytes: Number(row.bytes), freeBytes: null };
    });
  }

  ping(): Promise<void> {
    return this.#read("a trivial query", async (sql) => {
      await sql`SELECT 1`;
    });
  }

  /** Rows in each table a copy fills: all zero for an empty store. */
  contents(): Promise<Record<string, number>> {
    return this.#read("tables", async (sql) => {
      const counts: Record<string, number> = {};
      for (const table of DATA_TABLES) {
        counts[table] = Number((await sql.unsafe(`SELECT count(*) AS n FROM ${table}`))[0].n);
      }
      return counts;
    });
  }

  /**
   * Fill an empty store: every batch `source` yields, and `secrets`, in one transaction, so a copy
   * that fails leaves the store empty. Memory holds one batch at a time. Refused (and nothing
   * written) if the store holds anything once the copy has its lock.
   */
  copyIn(source: AsyncIterable<ExportPart>, secrets: Record<string, string>): Promise<void> {
    const names = Object.keys(secrets);
    const statements = async function* (): AsyncGenerator<Statement> {
      yield { text: "LOCK TABLE " + DATA_TABLES.join(", ") + " IN EXCLUSIVE MODE", params: [], oids: [] };
      yield { text: NOT_EMPTY_CHECK, params: [], oids: [] };
      yield {
        text: "INSERT INTO secrets (name, value) SELECT * FROM unnest($1::text[], $2::text[])",
        params: [names, names.map((name) => secrets[name])],
        oids: [1009, 1009],
      };
      for await (const part of source) yield* "copy" in part ? copyStatements(part) : batchStatements(part);
    };
    const done = this.#writes.then(() => this.#transaction(this.#sql, statements()));
    this.#writes = done.catch(() => {});
    return done;
  }

  /**
   * One statement: its own transaction. Prepared (named, kept on its connection) unless its text is a
   * one-off: postgres.js sends an unprepared statement with parameters as Parse and Describe, waits
   * for the answer, then Bind and Execute, so that every write cost two round trips and PostgreSQL
   * parsed and planned its text each time; prepared, it is one round trip after its first use on the
   * connection. Measured on this machine (a one-task job's insert, then its placement, fenced, p50 of
   * 200, load 3-5): 1.6-2.2 ms each unprepared, 1.0-1.5 prepared.
   */
  async #statement(sql: postgres.Sql, statement: Statement): Promise<void> {
    await sql.unsafe(
      statement.text,
      statement.params.map((values, i) => sql.typed(values as never, statement.oids[i])),
      { prepare: !statement.oneOff },
    );
  }

  /**
   * One transaction on one connection, pipelined: BEGIN, the statements and COMMIT are sent without
   * waiting for answers (up to PIPELINE_WINDOW statements ahead), so a small batch is one round
   * trip. PostgreSQL runs them in order; after a failed one, the rest fail and COMMIT rolls back,
   * so the first error is the batch's and nothing of it stays.
   */
  async #transaction(
    sql: postgres.Sql,
    statements: Iterable<Statement> | AsyncIterable<Statement>,
    fence?: Fence,
  ): Promise<void> {
    const connection = await sql.reserve();
    let failure: unknown = null;
    const inFlight: Promise<void>[] = [];
    const send = (text: string, params: Statement["params"] = [], oids: number[] = [], oneOff?: true) => {
      const values = params.map((values, i) => connection.typed(values as never, oids[i]));
      const query = connection.unsafe(text, values, { prepare: !oneOff });
      inFlight.push(query.then(() => {}, (error) => void (failure ??= error)));
      return query;
    };
    try {
      send("BEGIN");
      // First: the lease's row is held from here to COMMIT, and nothing is written if it is not the fence's.
      if (fence) {
        const check = fenceCall(fence);
        send(check.text, check.params, check.oids);
      }
      try {
        for await (const statement of statements) {
          if (failure !== null) break;
          send(statement.text, statement.params, statement.oids, statement.oneOff);
          while (inFlight.length > PIPELINE_WINDOW && inFlight.length > 1) await inFlight.shift();
        }
      } catch (error) {
        failure ??= error; // the statements' source failed: the transaction must still end here
      }
      // Sent behind what is in flight: the connection goes back to the pool outside any transaction.
      const end = failure === null ? send("COMMIT") : send("ROLLBACK");
      await Promise.all(inFlight);
      if (failure !== null) throw failure;
      const ended = await end;
      if (ended.command !== "COMMIT") throw new Error("the transaction was rolled back");
    } finally {
      connection.release();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#writes;
    await this.#sql.end({ timeout: 5 });
    await this.#lease.close();
  }
}

/** `fabric_fence(holder, epoch)`: fails the transaction it is in unless the lease is the fence's (arrays, as every statement's parameters). */
function fenceCall(fence: Fence): Statement {
  return {
    text: "SELECT fabric_fence(f.holder, f.epoch) FROM unnest($1::text[], $2::bigint[]) AS f(holder, epoch)",
    params: [[fence.holder], [fence.epoch]],
    oids: [1009, 1016],
  };
}

const NOT_EMPTY_CHECK = `DO $$ BEGIN
  IF ${DATA_TABLES.map((table) => `EXISTS (SELECT 1 FROM ${table})`).join(" OR ")} THEN
    RAISE EXCEPTION 'the store is not empty';
  END IF;
END $$`;

/** `url` with its password replaced by "***": what messages and logs show. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function messageOf(error: unknown): string {
  const e = error as { message?: string; code?: string };
  return e?.message || e?.code || String(error);
}
