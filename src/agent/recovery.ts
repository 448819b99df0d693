/**
 * What a restarted agent owes the tracker about its last run. Nothing of that run is still running
 * (its processes were ended), so every attempt it had (a process on record, or events in the journal)
 * without a final report is reported lost, including one that died between its `started` report
 * and its process's start.
 */
import { attemptKey, type AttemptRef, type TaskEvent } from "../protocol/mod.ts";

export function lostAttempts(leftovers: AttemptRef[], backlog: TaskEvent[], at: number): TaskEvent[] {
  const ended = new Set(backlog.filter((e) => e.type === "finished" || e.type === "released").map(attemptKey));
  const had = new Map<string, AttemptRef>();
  for (const ref of [...leftovers, ...backlog]) had.set(attemptKey(ref), { taskId: ref.taskId, attempt: ref.attempt });
  return [...had.entries()]
    .filter(([k]) => !ended.has(k))
    .map(([, ref]) => ({
      type: "released" as const,
      ...ref,
      at,
      reason: "the agent restarted and no longer runs it",
      how: "lost" as const,
    }));
}

/** Attempts named by events, each once. */
export function attemptsOf(events: TaskEvent[]): AttemptRef[] {
  const refs = new Map<string, AttemptRef>();
  for (const e of events) refs.set(attemptKey(e), { taskId: e.taskId, attempt: e.attempt });
  return [...refs.values()];
}
