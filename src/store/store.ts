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
  StoredAuditRecord,
  TaskQuery,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "./records.ts";
import type { PurgeOptions, PurgeResult, StoreSpace } from "./retention.ts";
import type { Fence, LeaseStore } from "./lease.ts";
import type { TrackerRegistry } from "./trackers.ts";

/**
 * Every store also keeps the lease of the tracker that places work (lease.ts) and the list of the
 * trackers that share it (trackers.ts); SQLite's one tracker always leads, alone.
 */
export interface Store extends LeaseStore, TrackerRegistry {
  getMeta(key: string): Promise<string | null>;
  loadAgents(): Promise<AgentRecord[]>;
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
 * A page of the audit trail in either store's SQL ($1..$5: see auditPageParams): newest first by id, the
 * scan starting below `before` and stopping at the first entry of `since` (found by audit_at in one
 * step), so that a filter that matches little reads at most the entries in that span.
 */
export const AUDIT_PAGE_SQL = `SELECT * FROM audit
  WHERE id < CAST($1 AS BIGINT) AND at >= CAST($2 AS BIGINT)
    AND id >= coalesce((SELECT id FROM audit WHERE at >= CAST($2 AS BIGINT) ORDER BY at LIMIT 1), CAST($1 AS BIGINT))
    AND (CAST($3 AS TEXT) IS NULL OR actor = CAST($3 AS TEXT))
    AND (CAST($4 AS TEXT) IS NULL OR action LIKE CAST($4 AS TEXT) ESCAPE '\\')
  ORDER BY id DESC LIMIT CAST($5 AS BIGINT)`;

export function auditPageParams(query: AuditQuery): Array<string | number | null> {
  const prefix = query.actionPrefix ? `${query.actionPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  return [query.before ?? Number.MAX_SAFE_INTEGER, query.since ?? 0, query.actor ?? null, prefix, query.limit];
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
  };
}
