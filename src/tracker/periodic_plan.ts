/**
 * What a periodic job does now: a pure planner over its schedule, the last time it handled and the
 * clock, as placement.ts is for tasks. The caller (periodic.ts) applies the decision in one fenced
 * write. At most one time is launched per decision, the latest that is due: the times missed while no
 * tracker led are never run one by one, only the last, and only within `catchUpMs` of it.
 */
import { latestTime, nextTimes, type Schedule } from "../protocol/mod.ts";

export interface PlanInput {
  schedule: Schedule;
  catchUpMs: number;
  /** The last scheduled time handled (launched, skipped or missed), or null. */
  lastScheduledAt: number | null;
  /** Registered, replaced or resumed at: no time at or before it is due. */
  since: number;
  now: number;
}

export type Decision =
  /** Launch the run for the scheduled time `at`. */
  | { kind: "launch"; at: number; next: number | null }
  /** `at` was due longer than catchUp ago (no tracker led then): it is passed over, nothing runs. */
  | { kind: "missed"; at: number; next: number | null }
  /** Nothing is due; `next` is the next time (null: the schedule names none). */
  | { kind: "wait"; next: number | null };

export function plan(input: PlanInput): Decision {
  const { schedule, now } = input;
  const from = Math.max(input.lastScheduledAt ?? -Infinity, input.since);
  const next = nextTimes(schedule, Math.max(now, from), 1)[0] ?? null;
  const latest = latestTime(schedule, now);
  if (latest === null || latest <= from) return { kind: "wait", next };
  return now - latest <= input.catchUpMs ? { kind: "launch", at: latest, next } : { kind: "missed", at: latest, next };
}
