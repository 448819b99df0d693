/**
 * What an agent is sent: assignments it does not hold yet, and stop orders for attempts it holds
 * that must not go on. Read from memory; the only thing written is when an attempt was last sent.
 */
import { type Assignment, attemptKey, type AttemptRef, type ClaimResponse, isTerminalTask } from "../protocol/mod.ts";
import { assignmentOf } from "./assignment.ts";
import type { AgentEntry, TaskEntry } from "./entries.ts";

/** An assignment sent but not acknowledged after this long is sent again. */
const REDELIVER_MS = 5_000;

/**
 * Assigned attempts the agent does not hold and has not just been sent. An attempt sent but not
 * acknowledged (started, or named as held) for a while is sent again: the answer may have been lost.
 */
export function deliverable(
  agent: AgentEntry,
  holding: ReadonlySet<string>,
  options: { now: number; graceMs: number },
): Assignment[] {
  const assignments: Assignment[] = [];
  for (const task of agent.tasks) {
    if (task.record.state !== "assigned" || task.stopRequested) continue;
    if (holding.size > 0 && holding.has(attemptKey({ taskId: task.record.id, attempt: task.record.attempt }))) {
      continue;
    }
    if (task.deliveredAt !== null && options.now - task.deliveredAt < REDELIVER_MS) continue;
    task.deliveredAt = options.now;
    assignments.push(assignmentOf(task, options.graceMs));
  }
  return assignments;
}

/** A claim's answer: new work, and the attempts the agent holds that it must stop. */
export function claimResponse(
  agent: AgentEntry,
  holding: { list: AttemptRef[]; keys: ReadonlySet<string> },
  options: { now: number; graceMs: number; tasks: ReadonlyMap<string, TaskEntry> },
): ClaimResponse {
  const assignments = deliverable(agent, holding.keys, options);
  const stop: AttemptRef[] = [];
  for (const ref of holding.list) {
    const task = options.tasks.get(ref.taskId);
    if (task && task.record.attempt === ref.attempt && task.attempt?.agentId === agent.record.id) {
      const ended = task.attempt.state;
      // What the agent finished and reported needs no stop: only what it may still be running.
      if (ended === "succeeded" || ended === "failed") continue;
      if (!isTerminalTask(task.record.state) && !task.stopRequested) continue;
    }
    stop.push(ref);
  }
  return { assignments, stop };
}

/** Whether work was sent to the agent long enough ago, without a word back, to be sent again. */
export function awaitsRedelivery(agent: AgentEntry, now: number): boolean {
  for (const task of agent.tasks) {
    if (task.record.state === "assigned" && task.deliveredAt !== null && now - task.deliveredAt >= REDELIVER_MS) {
      return true;
    }
  }
  return false;
}
