/** Records as clients see them: ISO times, agent names instead of ids, camelCase keys. */
import type { AgentView, AttemptView, JobSummary, TaskView } from "../protocol/mod.ts";
import type { AgentRecord, AttemptRecord, JobRecord, TaskRecord } from "../store/mod.ts";

export type AgentNames = (agentId: string | null) => string | null;

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function jobSummary(job: JobRecord): JobSummary {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    cancelling: job.cancelRequested && (job.state === "queued" || job.state === "running"),
    counts: { ...job.counts },
    total: job.total,
    createdAt: iso(job.createdAt)!,
    finishedAt: iso(job.finishedAt),
    version: job.version,
  };
}

export function taskView(task: TaskRecord, agentName: AgentNames): TaskView {
  return {
    id: task.id,
    jobId: task.jobId,
    name: task.name,
    template: task.template,
    index: task.index,
    state: task.state,
    attempt: task.attempt,
    agent: agentName(task.agentId),
    exitCode: task.exitCode,
    signal: task.signal,
    reason: task.reason,
    createdAt: iso(task.createdAt)!,
    startedAt: iso(task.startedAt),
    finishedAt: iso(task.finishedAt),
    durationMs: task.durationMs,
  };
}

export function attemptView(attempt: AttemptRecord, agentName: AgentNames): AttemptView {
  return {
    attempt: attempt.attempt,
    agent: agentName(attempt.agentId) ?? attempt.agentId,
    state: attempt.state,
    exitCode: attempt.exitCode,
    signal: attempt.signal,
    reason: attempt.reason,
    assignedAt: iso(attempt.assignedAt)!,
    startedAt: iso(attempt.startedAt),
    finishedAt: iso(attempt.finishedAt),
  };
}

export function agentView(agent: AgentRecord, running: number): AgentView {
  return {
    id: agent.id,
    name: agent.name,
    state: agent.state,
    labels: { ...agent.labels },
    slots: agent.slots,
    running,
    load: agent.load,
    version: agent.version,
    os: agent.os,
    arch: agent.arch,
    registeredAt: iso(agent.registeredAt)!,
    lastHeartbeat: iso(agent.lastHeartbeat),
  };
}
