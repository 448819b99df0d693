/** Records as SQL rows, in the order of their tables' columns (table_columns.ts): both stores write them. */
import type {
  AgentRecord,
  AttemptRecord,
  AuditRecord,
  JobRecord,
  JobSecretRecord,
  PeriodicRecord,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "./records.ts";

export type SqlValue = string | number | Uint8Array | null;

export interface SqlRows {
  meta: SqlValue[][];
  agents: SqlValue[][];
  newJobs: SqlValue[][];
  jobs: SqlValue[][];
  tasks: SqlValue[][];
  attempts: SqlValue[][];
  logs: SqlValue[][];
  setAside: SqlValue[][];
  tokens: SqlValue[][];
  jobSecrets: SqlValue[][];
  deletedJobSecrets: SqlValue[][];
  audit: SqlValue[][];
  periodic: SqlValue[][];
  deletedPeriodic: SqlValue[][];
}

export function batchRows(batch: WriteBatch): SqlRows {
  return {
    meta: [...batch.meta].map(([key, value]) => [key, value]),
    agents: batch.agents.map(agentRow),
    newJobs: batch.newJobs.map(jobRow),
    jobs: batch.jobs.map((
      j,
    ) => [j.state, j.cancelRequested ? 1 : 0, JSON.stringify(j.counts), j.finishedAt, j.version, j.id]),
    tasks: batch.tasks.map(taskRow),
    attempts: batch.attempts.map(attemptRow),
    logs: batch.logs.map((l) => [l.taskId, l.attempt, l.seq, l.stream, logData(l.data), l.at]),
    setAside: batch.setAside.map((a) => [a.reason, a.at, a.jobId]),
    tokens: batch.tokens.map(tokenRow),
    jobSecrets: batch.jobSecrets.map(jobSecretRow),
    deletedJobSecrets: batch.deletedJobSecrets.map((name) => [name]),
    audit: batch.audit.map(auditRow),
    periodic: batch.periodic.map(periodicRow),
    deletedPeriodic: batch.deletedPeriodic.map((name) => [name]),
  };
}

function auditRow(a: AuditRecord): SqlValue[] {
  return [a.at, a.actor, a.role, a.action, a.target, a.detail, a.address, a.outcome];
}

function periodicRow(p: PeriodicRecord): SqlValue[] {
  return [
    p.name,
    JSON.stringify(p.spec),
    JSON.stringify(p.files),
    p.source,
    p.signed ? JSON.stringify(p.signed) : null,
    p.submittedBy,
    p.paused ? 1 : 0,
    p.createdAt,
    p.updatedAt,
    p.lastScheduledAt,
    p.lastJobId,
    p.lastNote,
    JSON.stringify(p.packs ?? {}),
  ];
}

function jobSecretRow(r: JobSecretRecord): SqlValue[] {
  return [r.name, r.keyId, r.nonce, r.sealed, JSON.stringify(r.allow), r.createdAt, r.updatedAt];
}

const encoder = new TextEncoder();

/** Output as SQLite keeps it: text, or bytes when it holds a NUL (node:sqlite cuts text at the first NUL). */
function logData(data: string): SqlValue {
  return data.includes("\0") ? encoder.encode(data) : data;
}

function agentRow(a: AgentRecord): SqlValue[] {
  return [
    a.id,
    a.name,
    JSON.stringify(a.labels),
    a.slots,
    a.version,
    a.os,
    a.arch,
    a.credentialHash,
    a.state,
    a.registeredAt,
    a.lastHeartbeat,
    a.load ? JSON.stringify(a.load) : null,
    a.weight,
    JSON.stringify(a.capabilities),
    JSON.stringify(a.resources),
    a.draining ? 1 : 0,
    a.drainDeadline,
    a.admission,
  ];
}

function jobRow(j: JobRecord): SqlValue[] {
  return [
    j.id,
    j.name,
    JSON.stringify(j.spec),
    j.source,
    j.state,
    j.cancelRequested ? 1 : 0,
    j.total,
    JSON.stringify(j.counts),
    j.createdAt,
    j.finishedAt,
    j.version,
    JSON.stringify(j.files),
    j.signed ? JSON.stringify(j.signed) : null,
    j.submittedBy,
    j.spec.retention ?? null,
    j.periodic?.name ?? null,
    j.periodic?.scheduledAt ?? null,
    JSON.stringify(j.packs ?? {}),
  ];
}

export function taskRow(t: TaskRecord): SqlValue[] {
  return [
    t.id,
    t.jobId,
    t.ord,
    t.template,
    t.name,
    t.index,
    t.count,
    t.matrix ? JSON.stringify(t.matrix) : null,
    t.pinnedAgent,
    t.state,
    t.attempt,
    t.agentId,
    t.exitCode,
    t.signal,
    t.reason,
    t.createdAt,
    t.startedAt,
    t.finishedAt,
    t.durationMs,
    t.output,
    t.outputTruncated ? 1 : 0,
    t.failures,
    t.losses,
    t.retryAt,
  ];
}

function attemptRow(a: AttemptRecord): SqlValue[] {
  return [
    a.taskId,
    a.attempt,
    a.agentId,
    a.state,
    a.assignedAt,
    a.startedAt,
    a.finishedAt,
    a.exitCode,
    a.signal,
    a.reason,
  ];
}

function tokenRow(t: TokenRecord): SqlValue[] {
  return [t.hash, t.name, t.role, t.createdAt, t.expiresAt, t.revokedAt, t.lastUsedAt];
}
