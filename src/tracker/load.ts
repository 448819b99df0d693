/**
 * A start: memory rebuilt from the store. Agents come back as they were (down ones stay down until
 * they speak); each active job's tasks go on where they were, or are queued again when their agent is
 * unknown; a cancel that was under way goes on.
 */
import type { AgentRecord, AttemptRecord, JobRecord, TaskRecord } from "../store/mod.ts";
import type { Clock } from "./entries.ts";
import type { FabricState } from "./state.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

export interface StoredState {
  agents: AgentRecord[];
  jobs: JobRecord[];
  tasks: TaskRecord[];
  attempts: AttemptRecord[];
}

export function loadState(
  context: { state: FabricState; tasks: TaskLifecycle; clock: Clock },
  stored: StoredState,
): void {
  const { state, tasks } = context;
  const now = context.clock.now();
  for (const record of stored.agents) state.addAgent(record, now);
  const byJob = Map.groupBy(stored.tasks, (task) => task.jobId);
  const currentAttempts = new Map(stored.attempts.map((a) => [a.taskId, a]));
  for (const record of stored.jobs) {
    const job = state.addJob(record, byJob.get(record.id) ?? []);
    for (const task of job.tasks) tasks.restore(task, currentAttempts.get(task.record.id));
  }
  for (const job of state.jobs.values()) {
    if (job.record.cancelRequested) tasks.cancel(job);
  }
}
