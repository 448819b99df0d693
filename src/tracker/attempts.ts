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
export function newAttempt(task: TaskRecord, agentId: string, now: number): AttemptRecord {
  return {
    taskId: task.id,
    attempt: task.attempt,
    agentId,
    state: "assigned",
    assignedAt: now,
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    signal: null,
    reason: null,
  };
}

/** The attempt ended in `state`; false (and unchanged) when it was abandoned before. */
export function closeAttempt(attempt: AttemptRecord, state: TaskState, ending: Ending, now: number): boolean {
  if (attempt.state === "lost") return false;
  attempt.state = state;
  attempt.exitCode = ending.exitCode ?? null;
  attempt.signal = ending.signal ?? null;
  attempt.reason = ending.reason ?? null;
  attempt.finishedAt = ending.at ?? now;
  return true;
}

/** The attempt ended without a result (its agent lost it, or handed it back): `lost`, whatever happens to the task. */
export function abandonAttempt(attempt: AttemptRecord, reason: string, now: number): void {
  attempt.state = "lost";
  attempt.reason = reason;
  attempt.finishedAt = now;
}
