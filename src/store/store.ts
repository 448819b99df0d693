/** The one interface every store implements. All writes go through `write`, one transaction per batch. */
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
import type { Fence, LeaseStore } from "./lease.ts";
import type { TrackerRegistry } from "./trackers.ts";
import type { BlobStore } from "./blobs.ts";
import type { ChannelStore } from "./channels.ts";

/**
 * Every store also keeps the lease of the tracker that places work (lease.ts) and the list of the
 * trackers that share it (trackers.ts); SQLite's one tracker always leads, alone.
 */
export interface Store extends LeaseStore, TrackerRegistry, BlobStore, ChannelStore {
  getMeta(key: string): Promise<string | null>;
  loadAgents(): Promise<AgentRecord[]>;
  /** The agents of these ids that are stored (one indexed read: a follower checking a credential it has not seen). */
  getAgents(ids: readonly string[]): Promise<AgentRecord[]>;
  /** Jobs that have not ended, with their tasks; a job whose rows cannot be read is named, not thrown. */
  loadActiveJobs(): Promise<ActiveJobs>;
  listJobs(options: { limit: number }): Promise<JobRecord[]>;
  getJob(id: string): Promise<JobRecord | null>;
  listTasks(jobId: string): Promise<TaskRecord[]>;
  /** One page of jobs (the dashboard's list): never more than `query.limit` rows are read. */
  listJobsPage(query: JobQuery): Promise<JobRecord[]>;
  /** One page of a job's tasks (the dashboard's job page): a job may have a million. */
  listTasksPage(jobId: string, query: TaskQuery): Promise<TaskRecord[]>;
  getTask(id: string): Promise<TaskRecord | null>;
  listAttempts(taskId: string): Promise<AttemptRecord[]>;
  readLogs(taskId: string, attempt: number, afterSeq: number, limit: number): Promise<LogRow[]>;
  /** Every client token, revoked and expired ones too (they are refused by name, with the reason). */
  loadTokens(): Promise<TokenRecord[]>;
  /** Every secret jobs may use, sealed (a tracker holds them in memory). */
  loadJobSecrets(): Promise<JobSecretRecord[]>;
  /** One page of the audit trail, newest first: never more than `query.limit` rows are read. */
  listAudit(query: AuditQuery): Promise<StoredAuditRecord[]>;
  /** Every periodic job (a tracker that leads holds them in memory). */
  loadPeriodic(): Promise<PeriodicRecord[]>;
  /** One bounded step of retention: jobs ended longer ago than their retention go, with their rows. */
  purgeExpired(options: PurgeOptions): Promise<PurgeResult>;
  /** Bytes of output stored for the tasks of a job (what --max-job-logs counts). */
  jobLogBytes(jobId: string): Promise<number>;
  /** The store's size and free space. */
  space(): Promise<StoreSpace>;
  /** A trivial query: resolves when the store answers (readiness). */
  ping(): Promise<void>;
  /**
   * Atomically persist a batch: all of it or none of it. With a `fence`, only while the lease is still
   * the fence's (else a LeaseLostError, and nothing is written); a tracker on a shared store always gives one.
   * The batch is written as it is when this is called: a record the caller changes afterwards is written
   * by a later batch, never half by this one (batch_snapshot.ts).
   */
  write(batch: WriteBatch, fence?: Fence): Promise<void>;
  close(): Promise<void>;
  /**
   * Secrets kept in a store that several trackers share (PostgreSQL): the CA's key and the tokens.
   * Absent for SQLite, whose one tracker keeps them in its data directory.
   */
  readonly secrets?: SecretStore;
}

/** What every tracker of a shared store needs and a reader of job data must not see. */
export interface SecretStore {
  getSecret(name: string): Promise<string | null>;
  /**
   * Store each value whose name is not stored yet, and answer the values stored now for those
   * names: when two trackers start at once on an empty store, the first one's win, for both.
   */
  initSecrets(values: Record<string, string>): Promise<Record<string, string>>;
  /** Store each value, replacing what is stored under its name (a rotated join token, a reset admin token). */
  setSecrets(values: Record<string, string>): Promise<void>;
}

/**
 * A LIKE pattern that matches names containing `text`, with '\\' as the escape: a '%' or '_' in
 * `text` is itself, not a wildcard (both stores' `ESCAPE '\\'`).
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A page of the audit trail as SQL for either store ($N parameters; SQLite's `?N` are the same numbers),
 * with only the conditions asked for, so that each uses its index: newest first by id from below
 * `before`; `since` stops the scan at the first entry of its time (found by audit_at in one step); an
 * actor's entries come from audit_actor. An action prefix alone reads the entries from `before` to
 * `since` (all of them without it) until the page is full.
 */
export function auditPageQuery(query: AuditQuery): { text: string; params: Array<string | number> } {
  const params: Array<string | number> = [query.before ?? Number.MAX_SAFE_INTEGER];
  const where = ["id < $1"];
  const add = (value: string | number) => `$${params.push(value)}`;
  if (query.since !== undefined) {
    const since = add(query.since);
    where.push(`at >= ${since}`, `id >= coalesce((SELECT id FROM audit WHERE at >= ${since} ORDER BY at LIMIT 1), $1)`);
  }
  if (query.actor !== undefined) where.push(`actor = ${add(query.actor)}`);
  if (query.actionPrefix !== undefined) {
    const pattern = `${query.actionPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(`action LIKE ${add(pattern)} ESCAPE '\\'`);
  }
  const limit = add(query.limit);
  return { text: `SELECT * FROM audit WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ${limit}`, params };
}

export function emptyBatch(): WriteBatch {
  return {
    meta: new Map(),
    agents: [],
    newJobs: [],
    jobs: [],
    tasks: [],
    attempts: [],
    logs: [],
    setAside: [],
    tokens: [],
    jobSecrets: [],
    deletedJobSecrets: [],
    audit: [],
    periodic: [],
    deletedPeriodic: [],
  };
}
