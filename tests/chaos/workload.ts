/**
 * The workload: jobs of several shapes (many short tasks with outputs and flaky ones, long ticking
 * tasks, megabytes of output, tasks that always fail with skipped dependents, jobs cancelled
 * mid-run), planned from the seed and submitted over the first part of the run.
 */
import type { JobPlan, TemplatePlan } from "./model.ts";
import type { Random } from "./random.ts";
import { BIG_LINE_BYTES, taskScript, TICK_MS } from "./task_scripts.ts";

export interface WorkloadOptions {
  durationMs: number;
  /** Give some jobs a `lostAfter` longer than any long cut. */
  lostAfter: boolean;
  /** Largest output of a big task, in bytes. */
  maxBigBytes: number;
}

type Shape = "mixed" | "long" | "big" | "failing" | "cancel";

/** One round of shapes: every kind of task, and one cancelled job, per round. */
const ROUND: readonly Shape[] = ["mixed", "mixed", "long", "big", "failing", "cancel", "mixed", "long", "failing"];

/** Jobs are submitted over most of the run, so that faults find work running; the last ones end after. */
const SUBMIT_WINDOW = 0.75;
export const LOST_AFTER_MS = 9000;

export function planWorkload(random: Random, options: WorkloadOptions): JobPlan[] {
  const count = Math.max(6, Math.round(options.durationMs / 2500));
  const shapes: Shape[] = [];
  while (shapes.length < count) shapes.push(...random.shuffle(ROUND));
  shapes.length = count;
  // The first job starts work at once; at least two are cancelled (one through the CLI).
  shapes[0] = "mixed";
  if (!shapes.includes("cancel")) shapes[1] = "cancel";
  if (shapes.filter((s) => s === "cancel").length < 2) shapes[count - 1] = "cancel";
  const window = options.durationMs * SUBMIT_WINDOW;
  let cancels = 0;
  return shapes.map((shape, i) => {
    const name = `chaos-${String(i + 1).padStart(3, "0")}-${shape}`;
    const submitAtMs = i === 0 ? 0 : Math.round((window * i) / count + random.int(0, Math.round(window / count / 2)));
    const cancelled = shape === "cancel";
    if (cancelled) cancels++;
    return {
      name,
      templates: templatesFor(shape, random, options),
      submitAtMs,
      cancelAfterStarts: cancelled ? random.int(2, 4) : null,
      cancelDelayMs: cancelled ? random.int(300, 2500) : 0,
      cancelWithCli: cancelled && cancels === 1,
      lostAfterMs: options.lostAfter && random.chance(0.3) ? LOST_AFTER_MS : null,
    };
  });
}

function templatesFor(shape: Shape, random: Random, options: WorkloadOptions): TemplatePlan[] {
  const t = (name: string, kind: TemplatePlan["kind"], fields: Partial<TemplatePlan>): TemplatePlan => ({
    name,
    kind,
    count: 1,
    retries: 0,
    backoffMs: 0,
    lines: 0,
    sleepMs: 0,
    needs: null,
    ...fields,
  });
  const shorts = (min: number, max: number) =>
    t("short", "short", { count: random.int(min, max), lines: random.int(1, 20), sleepMs: random.int(50, 500) });
  const ticks = (minMs: number, maxMs: number) => Math.round(random.int(minMs, maxMs) / TICK_MS);
  switch (shape) {
    case "mixed":
      return [
        shorts(30, 60),
        // A few long tasks everywhere, so that a cut or a kill often finds one running.
        t("long", "long", { count: random.int(1, 2), lines: ticks(2000, 4000) }),
        t("produce", "output", { count: random.int(3, 6) }),
        t("consume", "consumer", { needs: "produce" }),
        t("flaky", "flaky", { count: random.int(1, 3), retries: 2, backoffMs: random.int(200, 500) }),
      ];
    case "long":
      return [t("long", "long", { count: random.int(4, 8), lines: ticks(2000, 5000) }), shorts(10, 20)];
    case "big": {
      const bytes = random.int(1024 * 1024, options.maxBigBytes);
      return [t("big", "big", { count: random.int(1, 2), lines: Math.ceil(bytes / BIG_LINE_BYTES) }), shorts(5, 10)];
    }
    case "failing":
      return [
        t("failing", "failing", {
          count: random.int(1, 2),
          retries: random.int(1, 2),
          backoffMs: random.int(300, 900),
        }),
        t("after-failing", "dependent", { count: 2, needs: "failing" }),
        shorts(5, 10),
      ];
    case "cancel":
      return [t("long", "long", { count: random.int(6, 10), lines: ticks(3000, 6000) })];
  }
}

/** The job file, as the JSON the API takes. */
export function jobSpec(plan: JobPlan, runsDir: string, runsFile: string): Record<string, unknown> {
  return {
    name: plan.name,
    // Repeated kills and cuts must not use up a task's budget of losses.
    lostRetries: 20,
    ...(plan.lostAfterMs === null ? {} : { lostAfter: `${plan.lostAfterMs}ms` }),
    permissions: { write: [runsDir] },
    timeout: "2m",
    tasks: plan.templates.map((template) => ({
      name: template.name,
      count: template.count,
      run: taskScript(template, runsFile),
      ...(template.retries > 0 ? { retries: template.retries } : {}),
      ...(template.backoffMs > 0 ? { backoff: { delay: `${template.backoffMs}ms`, factor: 2, max: "3s" } } : {}),
      ...(template.needs ? { needs: [template.needs] } : {}),
    })),
  };
}

export function taskCount(plans: readonly JobPlan[]): number {
  return plans.reduce((n, plan) => n + plan.templates.reduce((m, t) => m + t.count, 0), 0);
}
