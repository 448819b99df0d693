/** The rows fabric keeps. The tracker owns these objects in memory and hands them to the store to persist. */
import type {
  AgentLoad,
  AgentResources,
  BlobRef,
  Capabilities,
  JobSpec,
  LogChunk,
  Role,
  SignedJob,
  TaskCounts,
  TaskState,
} from "../protocol/mod.ts";

export interface AgentRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  slots: number;
  version: string;
  os: string;
  arch: string;
  /** SHA-256 (hex) of the secret half of the agent's credential. */
  credentialHash: string;
  state: "ready" | "down";
  registeredAt: number;
  lastHeartbeat: number | null;
  load: AgentLoad | null;
  weight: number;
  capabilities: Capabilities;
  resources: AgentResources;
  /** Takes no new work; what it runs is handed back at `drainDeadline`. */
  draining: boolean;
  drainDeadline: number | null;
  /**
   * approved: takes work; pending: waits for `fabric agents approve` (a tracker with
   * `--approve-agents`); removed: its credential is revoked (`fabric agents remove`), its name free.
   */
  admission: AgentAdmission;
}

export type AgentAdmission = "approved" | "pending" | "removed";

export interface JobRecord {
  id: string;
  name: string;
  spec: JobSpec;
  /** Script files shipped with the job: path -> content. */
  files: Record<string, string>;
  /** The packs of `files:` (blobs), by the name of the task (spec) that starts with them; none if absent. */
  packs?: Record<string, BlobRef>;
  source: string | null;
  /** `fabric submit --sign`: what was signed and the signature, handed to agents as it is; null if unsigned. */
  signed: SignedJob | null;
  /** The name of the token that submitted it (null: submitted before tokens had names). */
  submittedBy: string | null;
  /** A periodic job's run: the periodic job's name and the scheduled time it is for (absent: none). */
  periodic?: { name: string; scheduledAt: number } | null;
  state: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  cancelRequested: boolean;
  total: number;
  counts: TaskCounts;
  createdAt: number;
  finishedAt: number | null;
  version: number;
}

export interface TaskRecord {
  id: string;
  jobId: string;
  /** Position in the job: the order tasks were queued in. */
  ord: number;
  template: string;
  name: string;
  index: number;
  count: number;
  matrix: Record<string, string> | null;
  /** Set for `select: all` copies: the one agent this task runs on. */
  pinnedAgent: string | null;
  state: TaskState;
  attempt: number;
  agentId: string | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  /** JSON text the task wrote to $FABRIC_OUTPUT. */
  output: string | null;
  outputTruncated: boolean;
  /** Failed attempts so far (retries are counted against these). */
  failures: number;
  /** Attempts lost with their agent so far. */
  losses: number;
  /** A retry waits for its backoff until this time. */
  retryAt: number | null;
}

/** A page of jobs, newest first, narrowed by state and by a part of the name. */
export interface JobQuery {
  state?: JobRecord["state"];
  /** A part of the job's name; ASCII letters match either case (PostgreSQL's ILIKE folds the others too). */
  nameContains?: string;
  offset: number;
  limit: number;
}

/** A page of a job's tasks in their order, narrowed by state. */
export interface TaskQuery {
  state?: TaskState;
  offset: number;
  limit: number;
}

/** What identifies a new task; everything else starts as a queued first attempt. */
export type NewTask = Pick<
  TaskRecord,
  "id" | "jobId" | "ord" | "template" | "name" | "index" | "count" | "matrix" | "pinnedAgent" | "createdAt"
>;

/** A task as it is submitted: queued, attempt 1, nothing run yet. */
export function queuedTask(fields: NewTask): TaskRecord {
  // Field by field, not spread: a spread record keeps part of its fields outside the object (24 bytes
  // more for each of a large job's queued tasks).
  return {
    id: fields.id,
    jobId: fields.jobId,
    ord: fields.ord,
    template: fields.template,
    name: fields.name,
    index: fields.index,
    count: fields.count,
    matrix: fields.matrix,
    pinnedAgent: fields.pinnedAgent,
    createdAt: fields.createdAt,
    state: "queued",
    attempt: 1,
    agentId: null,
    exitCode: null,
    signal: null,
    reason: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    output: null,
    outputTruncated: false,
    failures: 0,
    losses: 0,
    retryAt: null,
  };
}

export interface AttemptRecord {
  taskId: string;
  attempt: number;
  agentId: string;
  state: TaskState;
  assignedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
}

/**
 * A client token. Only its SHA-256 is kept. A stored token changes in two ways only, both of which a
 * store merges rather than overwrites (so that writers that do not see each other's changes, a tracker
 * and `fabric tracker reset-admin-token`, never undo them): it is revoked once and for good, and its
 * last use only moves forward. Its name, role, creation and expiry never change.
 */
export interface TokenRecord {
  /** SHA-256 (hex) of the token: the key. */
  hash: string;
  name: string;
  role: Role;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface LogRow extends LogChunk {
  taskId: string;
}

/** A job that cannot be loaded: it ends `failed`, and so does each of its tasks that had not ended, with `reason`. */
export interface SetAside {
  jobId: string;
  reason: string;
  at: number;
}

/** The jobs that have not ended, with their tasks and current attempts: what a tracker holds in memory. */
export interface ActiveJobs {
  jobs: JobRecord[];
  tasks: TaskRecord[];
  attempts: AttemptRecord[];
  /** Jobs whose rows could not be read, and why: the tracker sets them aside. */
  unreadable: Array<{ jobId: string; reason: string }>;
}

/**
 * A secret jobs may be given (`fabric secret set`), sealed by the tracker: the store never holds its
 * value in the clear, nor the key that opens it.
 */
export interface JobSecretRecord {
  name: string;
  /** Which key sealed it (an id derived from the key, not the key): a tracker opens only its own. */
  keyId: string;
  /** AES-256-GCM: the random nonce, and the ciphertext with its tag, in base64. */
  nonce: string;
  sealed: string;
  /** Who may use it: `role:R`, `token:NAME`. */
  allow: string[];
  createdAt: number;
  updatedAt: number;
}

/**
 * A periodic job (`schedule:`): its job file as registered, and what the leader last did with it.
 * `lastScheduledAt` only moves forward, written with the run it launched in one transaction, so that
 * whichever tracker leads next never launches a time twice.
 */
export interface PeriodicRecord {
  name: string;
  /** Validated, with its schedule keys: every run is this spec without them. */
  spec: JobSpec;
  files: Record<string, string>;
  source: string | null;
  signed: SignedJob | null;
  /** The token that registered it: each run is checked against that token's rights as they are then. */
  submittedBy: string | null;
  paused: boolean;
  createdAt: number;
  /** Registered, replaced or resumed at: no time before it is launched or caught up. */
  updatedAt: number;
  lastScheduledAt: number | null;
  lastJobId: string | null;
  /** Why the last time launched nothing (overlap skip, missed, refused), or null. */
  lastNote: string | null;
  /** The packs of `files:` (blobs) each run starts with, by task name; none if absent. */
  packs?: Record<string, BlobRef>;
}

/** Everything one transaction writes. Records are upserted whole; log chunks are written once. */
export interface WriteBatch {
  meta: Map<string, string>;
  agents: AgentRecord[];
  /** Jobs written for the first time (every column). */
  newJobs: JobRecord[];
  /** Jobs already stored: only what changes (state, counts, version, ...) is written. */
  jobs: JobRecord[];
  tasks: TaskRecord[];
  attempts: AttemptRecord[];
  logs: LogRow[];
  /** Applied after everything else in the batch. */
  setAside: SetAside[];
  /** Inserted, or merged into the stored one (see TokenRecord). */
  tokens: TokenRecord[];
  /** Secrets set (written whole), and names of secrets deleted. */
  jobSecrets: JobSecretRecord[];
  deletedJobSecrets: string[];
  /** Entries of the audit trail, appended (never changed). */
  audit: AuditRecord[];
  /** Periodic jobs written whole, and names of those deleted. */
  periodic: PeriodicRecord[];
  deletedPeriodic: string[];
}

/**
 * One change asked for through the API (the tracker's audit.ts bounds every text in it): `actor` and
 * `role` are the authenticated caller's; `outcome` is "ok" or the error code it was answered with.
 */
export interface AuditRecord {
  at: number;
  actor: string;
  role: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  address: string | null;
  outcome: string;
}

/** An entry as stored: with the id the store gave it (increasing in the order entries were written). */
export interface StoredAuditRecord extends AuditRecord {
  id: number;
}

/** A page of the audit trail, newest first. */
export interface AuditQuery {
  /** Entries at or after this time (ms). */
  since?: number;
  /** Entries whose actor is exactly this. */
  actor?: string;
  /** Entries whose action starts with this ("job." or "job.cancel"). */
  actionPrefix?: string;
  /** Entries older than the one with this id (the next page). */
  before?: number;
  limit: number;
}
