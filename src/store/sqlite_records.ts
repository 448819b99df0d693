/**
 * SQL rows read back as records (the other way: sql_rows.ts); PostgreSQL's rows too, which have
 * the same columns (postgres_tables.ts).
 */
import type {
  AgentAdmission,
  AgentRecord,
  AttemptRecord,
  JobRecord,
  JobSecretRecord,
  LogRow,
  PeriodicRecord,
  StoredAuditRecord,
  TaskRecord,
  TokenRecord,
} from "./records.ts";

export type Row = Record<string, unknown>;

export function toAgent(r: Row): AgentRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    labels: JSON.parse(String(r.labels)),
    slots: Number(r.slots),
    version: String(r.version),
    os: String(r.os),
    arch: String(r.arch),
    credentialHash: String(r.credential_hash),
    state: r.state === "ready" ? "ready" : "down",
    registeredAt: Number(r.registered_at),
    lastHeartbeat: r.last_heartbeat === null ? null : Number(r.last_heartbeat),
    load: r.load === null ? null : JSON.parse(String(r.load)),
    weight: Number(r.weight),
    capabilities: JSON.parse(String(r.capabilities)),
    resources: JSON.parse(String(r.resources)),
    draining: Number(r.draining) === 1,
    drainDeadline: nullableNumber(r.drain_deadline),
    admission: ADMISSIONS.has(String(r.admission)) ? String(r.admission) as AgentAdmission : "approved",
  };
}

const ADMISSIONS = new Set<string>(["approved", "pending", "removed"] satisfies AgentAdmission[]);

export function toJob(r: Row): JobRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    spec: JSON.parse(String(r.spec)),
    files: JSON.parse(String(r.files)),
    // Absent when the job ships no files (most jobs), as a record made without them.
    ...(r.packs === null || r.packs === undefined || r.packs === "{}" ? {} : { packs: JSON.parse(String(r.packs)) }),
    source: r.source === null ? null : String(r.source),
    signed: r.signed === null || r.signed === undefined ? null : JSON.parse(String(r.signed)),
    submittedBy: r.submitted_by === null || r.submitted_by === undefined ? null : String(r.submitted_by),
    // Only a periodic job's run has the key: a job record of any other compares as it did before it existed.
    ...(r.periodic === null || r.periodic === undefined
      ? {}
      : { periodic: { name: String(r.periodic), scheduledAt: Number(r.scheduled_at) } }),
    state: String(r.state) as JobRecord["state"],
    cancelRequested: Number(r.cancel_requested) === 1,
    total: Number(r.total),
    counts: JSON.parse(String(r.counts)),
    createdAt: Number(r.created_at),
    finishedAt: nullableNumber(r.finished_at),
    version: Number(r.version),
  };
}

export function toTask(r: Row): TaskRecord {
  return {
    id: String(r.id),
    jobId: String(r.job_id),
    ord: Number(r.ord),
    template: String(r.template),
    name: String(r.name),
    index: Number(r.idx),
    count: Number(r.count),
    matrix: r.matrix === null ? null : JSON.parse(String(r.matrix)),
    pinnedAgent: r.pinned_agent === null ? null : String(r.pinned_agent),
    state: String(r.state) as TaskRecord["state"],
    attempt: Number(r.attempt),
    agentId: r.agent_id === null ? null : String(r.agent_id),
    exitCode: nullableNumber(r.exit_code),
    signal: r.signal === null ? null : String(r.signal),
    reason: r.reason === null ? null : String(r.reason),
    createdAt: Number(r.created_at),
    startedAt: nullableNumber(r.started_at),
    finishedAt: nullableNumber(r.finished_at),
    durationMs: nullableNumber(r.duration_ms),
    output: r.output === null ? null : String(r.output),
    outputTruncated: Number(r.output_truncated) === 1,
    failures: Number(r.failures),
    losses: Number(r.losses),
    retryAt: nullableNumber(r.retry_at),
  };
}

export function toAttempt(r: Row): AttemptRecord {
  return {
    taskId: String(r.task_id),
    attempt: Number(r.attempt),
    agentId: String(r.agent_id),
    state: String(r.state) as AttemptRecord["state"],
    assignedAt: Number(r.assigned_at),
    startedAt: nullableNumber(r.started_at),
    finishedAt: nullableNumber(r.finished_at),
    exitCode: nullableNumber(r.exit_code),
    signal: r.signal === null ? null : String(r.signal),
    reason: r.reason === null ? null : String(r.reason),
  };
}

const decoder = new TextDecoder();

export function toLog(r: Row): LogRow {
  return {
    taskId: String(r.task_id),
    attempt: Number(r.attempt),
    seq: Number(r.seq),
    stream: r.stream === "stderr" ? "stderr" : "stdout",
    data: r.data instanceof Uint8Array ? decoder.decode(r.data) : String(r.data),
    at: Number(r.at),
  };
}

export function toJobSecret(r: Row): JobSecretRecord {
  return {
    name: String(r.name),
    keyId: String(r.key_id),
    nonce: String(r.nonce),
    sealed: String(r.sealed),
    allow: JSON.parse(String(r.allow)),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function toToken(r: Row): TokenRecord {
  return {
    hash: String(r.hash),
    name: String(r.name),
    role: String(r.role) as TokenRecord["role"],
    createdAt: Number(r.created_at),
    expiresAt: nullableNumber(r.expires_at),
    revokedAt: nullableNumber(r.revoked_at),
    lastUsedAt: nullableNumber(r.last_used_at),
  };
}

export function toAudit(r: Row): StoredAuditRecord {
  const text = (value: unknown) => value === null || value === undefined ? null : String(value);
  return {
    id: Number(r.id),
    at: Number(r.at),
    actor: String(r.actor),
    role: text(r.role),
    action: String(r.action),
    target: text(r.target),
    detail: text(r.detail),
    address: text(r.address),
    outcome: String(r.outcome),
  };
}

export function toPeriodic(r: Row): PeriodicRecord {
  return {
    name: String(r.name),
    spec: JSON.parse(String(r.spec)),
    files: JSON.parse(String(r.files)),
    source: r.source === null ? null : String(r.source),
    signed: r.signed === null ? null : JSON.parse(String(r.signed)),
    submittedBy: r.submitted_by === null ? null : String(r.submitted_by),
    // SQLite's 0/1, PostgreSQL's boolean.
    paused: r.paused === true || Number(r.paused) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastScheduledAt: nullableNumber(r.last_scheduled_at),
    lastJobId: r.last_job_id === null ? null : String(r.last_job_id),
    lastNote: r.last_note === null ? null : String(r.last_note),
    ...(r.packs === null || r.packs === undefined || r.packs === "{}" ? {} : { packs: JSON.parse(String(r.packs)) }),
  };
}
