/** Records as clients see them: ISO times, agent names instead of ids, camelCase keys. */
import {
  type AgentResources,
  type AgentState,
  type AgentView,
  type AttemptView,
  isTerminalJob,
  type JobSummary,
  type TaskKind,
  type TaskView,
} from "../protocol/mod.ts";
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
    cancelling: job.cancelRequested && !isTerminalJob(job.state),
    counts: { ...job.counts },
    total: job.total,
    createdAt: iso(job.createdAt)!,
    finishedAt: iso(job.finishedAt),
    version: job.version,
    signedBy: job.signed?.publicKey ?? null,
    submittedBy: job.submittedBy,
    periodic: job.periodic ? { name: job.periodic.name, scheduledAt: iso(job.periodic.scheduledAt)! } : null,
  };
}

/** What a task view needs beyond its record: its kind and sandbox setting, and why it waits. */
export interface TaskContext {
  kind: TaskKind;
  uses?: string | null;
  sandbox: boolean;
  reason: string | null;
}

export function taskView(task: TaskRecord, agentName: AgentNames, context: TaskContext): TaskView {
  return {
    id: task.id,
    jobId: task.jobId,
    name: task.name,
    template: task.template,
    kind: context.kind,
    ...(context.uses ? { uses: context.uses } : {}),
    index: task.index,
    matrix: task.matrix,
    sandbox: context.sandbox,
    state: task.state,
    attempt: task.attempt,
    agent: agentName(task.agentId),
    exitCode: task.exitCode,
    signal: task.signal,
    reason: context.reason,
    createdAt: iso(task.createdAt)!,
    startedAt: iso(task.startedAt),
    finishedAt: iso(task.finishedAt),
    durationMs: task.durationMs,
    outputTruncated: task.outputTruncated,
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

/** What clients see of an agent's state: down, draining or ready. */
export function agentState(agent: AgentRecord): AgentState {
  if (agent.state === "down") return "down";
  if (agent.admission === "pending") return "pending";
  return agent.draining ? "draining" : "ready";
}

export function agentView(agent: AgentRecord, running: number, allocated: AgentResources): AgentView {
  return {
    id: agent.id,
    name: agent.name,
    state: agentState(agent),
    labels: { ...agent.labels },
    slots: agent.slots,
    weight: agent.weight,
    capabilities: { ...agent.capabilities },
    resources: { ...agent.resources },
    allocated: { ...allocated },
    running,
    load: agent.load,
    version: agent.version,
    os: agent.os,
    arch: agent.arch,
    registeredAt: iso(agent.registeredAt)!,
    lastHeartbeat: iso(agent.lastHeartbeat),
  };
}
