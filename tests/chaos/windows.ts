/**
 * When could an agent talk to the tracker? Not while it was cut off, not while its process was dead
 * (killed, not yet started again), and not while the tracker was dead (with several trackers: while
 * one was dead, as the agent may have been talking to it, or the store was away). The checker uses this to
 * tell a result that was lost from one that could not be delivered before its attempt was replaced.
 */
import { CONTROL_PLANE_FAULTS, type FaultRecord } from "./model.ts";

export interface Interval {
  start: number;
  end: number;
}

/** The intervals in which `agent` could not reach the tracker, sorted. */
export function disruptions(faults: readonly FaultRecord[], agent: string): Interval[] {
  return faults
    .filter((f) => CONTROL_PLANE_FAULTS.includes(f.kind) || f.agent === agent)
    .map((f) => ({ start: f.start, end: f.end }))
    .sort((a, b) => a.start - b.start);
}

/** The first moment at or after `t` at which the agent could reach the tracker. */
export function reachableAfter(faults: readonly FaultRecord[], agent: string, t: number): number {
  let at = t;
  for (const window of disruptions(faults, agent)) {
    if (window.start <= at && at < window.end) at = window.end;
  }
  return at;
}

/**
 * By when an order sent at `t` (a stop) must have taken effect on `agent`, given `budgetMs` once it
 * can be heard: a disruption that begins before that moment pushes it past its own end.
 */
export function stopDeadline(faults: readonly FaultRecord[], agent: string, t: number, budgetMs: number): number {
  let deadline = reachableAfter(faults, agent, t) + budgetMs;
  for (const window of disruptions(faults, agent)) {
    if (window.end > t && window.start <= deadline) deadline = Math.max(deadline, window.end + budgetMs);
  }
  return deadline;
}

/** Whether `[from, to]` holds `minMs` in a row during which the agent could reach the tracker. */
export function hadOpportunity(
  faults: readonly FaultRecord[],
  agent: string,
  span: Interval,
  minMs: number,
): boolean {
  let free = span.start;
  for (const window of disruptions(faults, agent)) {
    if (window.end <= free) continue;
    if (window.start >= span.end) break;
    if (window.start - free >= minMs) return true;
    free = Math.max(free, window.end);
  }
  return span.end - free >= minMs;
}

/**
 * The latest fault of `kinds` on `agent` (or on the tracker) whose window, widened by `afterMs`,
 * holds `t`: the latest, since an earlier one's widened window may still hold it.
 */
export function faultAround(
  faults: readonly FaultRecord[],
  agent: string,
  t: number,
  kinds: readonly FaultRecord["kind"][],
  afterMs: number,
): FaultRecord | undefined {
  return faults
    .filter((f) => kinds.includes(f.kind) && (CONTROL_PLANE_FAULTS.includes(f.kind) || f.agent === agent))
    .filter((f) => f.start <= t && t <= f.end + afterMs)
    .sort((a, b) => b.start - a.start)[0];
}

export function overlaps(a: Interval, b: Interval): boolean {
  return a.start <= b.end && b.start <= a.end;
}

export function iso(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString().slice(11, 23);
}
