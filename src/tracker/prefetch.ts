/**
 * How many tasks of a template an agent may hold per slot. Short tasks are sent ahead, so that the
 * next starts the moment a slot frees; long ones never are (the next would wait on a busy agent while
 * others idle).
 */
import type { EffectiveTask } from "../protocol/mod.ts";

/** What the depth of a template depends on: its settings and how long its tasks took so far. */
export interface PrefetchView {
  effective: Pick<EffectiveTask, "resources" | "concurrency" | "select">;
  job: { record: { spec: { concurrency?: number } } };
  /** How long its tasks run (moving average, ms) over `runs` finished attempts. */
  runtimeEma: number | null;
  runs: number;
}

/**
 * Tasks an agent may hold per slot when they are short: the next starts the moment a slot frees.
 * Tasks of a few milliseconds get enough to cover HELD_WORK_MS each slot, more than the time a
 * report (which frees the agent's places and brings the next tasks) lingers and takes to come back:
 * with less, a slot waited for work at one start in four (B1, 2,000 `true` tasks: 4 per slot ran
 * 10-18% slower than 8 in alternating runs). An agent that goes idle elsewhere waits at most about
 * that long for work held here.
 */
const PREFETCH_DEPTH = 2;
export const MAX_PREFETCH_DEPTH = 16;
const HELD_WORK_MS = 20;
/** Below this average runtime (and after a few runs), a template's tasks are short... */
const SHORT_TASK_MS = 100;
/** ...and below this one, very short. */
const VERY_SHORT_TASK_MS = 10;

/** An attempt of the template ran `durationMs`: into its moving average. */
export function recordRuntime(template: { runtimeEma: number | null; runs: number }, durationMs: number): void {
  template.runtimeEma = template.runtimeEma === null ? durationMs : 0.8 * template.runtimeEma + 0.2 * durationMs;
  template.runs++;
}

/** Tasks of `template` an agent may hold per slot: 1, or more for short tasks. */
export function prefetchDepth(template: PrefetchView): number {
  if (!prefetches(template)) return 1;
  const runtime = template.runtimeEma ?? Infinity;
  if (runtime >= VERY_SHORT_TASK_MS) return PREFETCH_DEPTH;
  return Math.min(MAX_PREFETCH_DEPTH, Math.max(PREFETCH_DEPTH, Math.ceil(HELD_WORK_MS / Math.max(runtime, 0.1))));
}

/**
 * Whether an agent may hold more of this template's tasks than it has slots. Only for short tasks
 * (a long one would keep the next waiting on a busy agent while others idle), and only without
 * resources or concurrency limits, which count what an agent holds.
 */
function prefetches(template: PrefetchView): boolean {
  const e = template.effective;
  const r = e.resources;
  return template.runs >= 4 && (template.runtimeEma ?? Infinity) < SHORT_TASK_MS && r.cpu === 0 &&
    r.memory === 0 && r.disk === 0 && e.concurrency === null && template.job.record.spec.concurrency === undefined &&
    e.select !== "all";
}
