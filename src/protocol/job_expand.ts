/** From a job spec to its concrete tasks: count and matrix fan-out, and each task's effective settings. */
import type { JobSpec, TaskSpec } from "./job_spec.ts";
import { type Permissions, resolvePermissions } from "./permissions.ts";

/** One concrete task of a job. */
export interface TaskInstance {
  /** The task's name in the job file. */
  template: string;
  /** Display name: `build`, `build[3]`, `test[os=linux,node=20]`, `test[os=linux][1]`. */
  name: string;
  /** 0..count-1 across the whole fan-out of the template. */
  index: number;
  count: number;
  matrix: Record<string, string> | null;
}

/** The concrete tasks of a job, in the order they are queued. */
export function expandJob(job: JobSpec): TaskInstance[] {
  const out: TaskInstance[] = [];
  for (const task of job.tasks) {
    const combinations = matrixCombinations(task.matrix);
    const copies = task.count ?? 1;
    const count = combinations.length * copies;
    let index = 0;
    for (const matrix of combinations) {
      for (let copy = 0; copy < copies; copy++) {
        const parts: string[] = [];
        if (matrix) parts.push(`[${Object.entries(matrix).map(([k, v]) => `${k}=${v}`).join(",")}]`);
        if (copies > 1) parts.push(`[${copy}]`);
        out.push({ template: task.name, name: task.name + parts.join(""), index: index++, count, matrix });
      }
    }
  }
  return out;
}

function matrixCombinations(matrix: Record<string, string[]> | undefined): Array<Record<string, string> | null> {
  if (!matrix || Object.keys(matrix).length === 0) return [null];
  let combos: Array<Record<string, string>> = [{}];
  for (const [key, values] of Object.entries(matrix)) {
    combos = combos.flatMap((combo) => values.map((value) => ({ ...combo, [key]: value })));
  }
  return combos;
}

export type TaskKind = "shell" | "script" | "git";

/** A task's settings with its job's defaults applied: what the tracker schedules by. */
export interface EffectiveTask {
  kind: TaskKind;
  env: Record<string, string>;
  permissions: Permissions;
  sandbox: boolean;
  timeoutMs: number | null;
  graceMs: number | null;
  retries: number;
  backoff: { delay: number; factor: number; max: number };
  lostRetries: number;
  /** Wait this long for a silent agent before replacing the task (null: replace when the agent is down). */
  lostAfterMs: number | null;
  maxOutputBytes: number;
  select: "least_loaded" | "random" | "round_robin" | "all";
  strategy: "spread" | "binpack";
  constraints: NonNullable<TaskSpec["constraints"]>;
  agents: string[] | null;
  exclude: string[];
  resources: { cpu: number; memory: number; disk: number };
  priority: number;
  concurrency: number | null;
  needs: string[];
}

export const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
export const DEFAULT_LOST_RETRIES = 3;

export function taskKind(task: TaskSpec): TaskKind {
  if (task.git) return "git";
  if (task.script !== undefined || task.code !== undefined) return "script";
  return "shell";
}

export function effectiveTask(job: JobSpec, task: TaskSpec): EffectiveTask {
  return {
    kind: taskKind(task),
    env: { ...job.env, ...task.env },
    permissions: resolvePermissions(job.permissions, task.permissions),
    sandbox: task.sandbox ?? job.sandbox ?? true,
    timeoutMs: task.timeout ?? job.timeout ?? null,
    graceMs: task.grace ?? job.grace ?? null,
    retries: task.retries ?? job.retries ?? 0,
    backoff: task.backoff ?? job.backoff ?? { delay: 1000, factor: 2, max: 60_000 },
    lostRetries: task.lostRetries ?? job.lostRetries ?? DEFAULT_LOST_RETRIES,
    lostAfterMs: task.lostAfter ?? job.lostAfter ?? null,
    maxOutputBytes: task.maxOutput ?? job.maxOutput ?? DEFAULT_MAX_OUTPUT,
    select: task.select ?? job.select ?? "least_loaded",
    strategy: task.strategy ?? job.strategy ?? "spread",
    constraints: [...(job.constraints ?? []), ...(task.constraints ?? [])],
    agents: task.agents ?? job.agents ?? null,
    exclude: [...new Set([...(job.exclude ?? []), ...(task.exclude ?? [])])],
    resources: {
      cpu: task.resources?.cpu ?? job.resources?.cpu ?? 0,
      memory: task.resources?.memory ?? job.resources?.memory ?? 0,
      disk: task.resources?.disk ?? job.resources?.disk ?? 0,
    },
    priority: task.priority ?? job.priority ?? 0,
    concurrency: task.concurrency ?? null,
    needs: task.needs ?? [],
  };
}

/** The delay before retry number `retry` (1-based) under a backoff policy. */
export function backoffDelay(backoff: { delay: number; factor: number; max: number }, retry: number): number {
  return Math.min(backoff.max, backoff.delay * backoff.factor ** Math.max(0, retry - 1));
}

/** `FABRIC_NEEDS_<NAME>`, `FABRIC_MATRIX_<KEY>`: upper case, anything else than letters and digits as "_". */
export function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}
