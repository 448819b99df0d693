/** Attempt records: one per placement of a task on an agent, closed with how it ended. */
import type { TaskState } from "../protocol/mod.ts";
import type { AttemptRecord, TaskRecord } from "../store/mod.ts";

/** How an attempt or a task ended, as stored. */
export interface Ending {
  exitCode?: number | null;
  signal?: string | null;
  reason?: string | null;
  at?: number;
  durationMs?: number;
}

/** The task's current attempt number, placed on `agentId` at `now`. */
export function newAttempt(task: TaskRecord, placed: { agentId: string; now: number }): AttemptRecord {
  return {
    taskId: task.id,
    attempt: task.attempt,
    agentId: placed.agentId,
    state: "assigned",
    assignedAt: placed.now,
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    signal: null,
    reason: null,
  };
}

/** The attempt ended in `state` (at `ending.at`, else `now`); false (and unchanged) when it was abandoned before. */
export function closeAttempt(attempt: AttemptRecord, ending: Ending & { state: TaskState; now: number }): boolean {
  if (attempt.state === "lost") return false;
  attempt.state = ending.state;
  attempt.exitCode = ending.exitCode ?? null;
  attempt.signal = ending.signal ?? null;
  attempt.reason = ending.reason ?? null;
  attempt.finishedAt = ending.at ?? ending.now;
  return true;
}

/** The attempt ended without a result (its agent lost it, or handed it back): `lost`, whatever happens to the task. */
export function abandonAttempt(attempt: AttemptRecord, ended: { reason: string; now: number }): void {
  attempt.state = "lost";
  attempt.reason = ended.reason;
  attempt.finishedAt = ended.now;
}
