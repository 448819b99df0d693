/** From a job spec to its concrete tasks: count and matrix fan-out, and each task's effective settings. */
import type { JobSpec, TaskSpec } from "./job_spec.ts";
import { DEFAULT_PIDS } from "./task_placement.ts";
import { needNames, type NeedRule, needRules } from "./needs.ts";
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
  for (const task of job.tasks) for (const instance of templateInstances(task)) out.push(instance);
  return out;
}

/** How many concrete tasks a task of the job file makes. */
export function instanceCount(task: TaskSpec): number {
  return fanOf(task).count;
}

/**
 * The concrete tasks of one task of the job file, in order, one at a time: a caller making a million
 * of them need not hold them all (the tracker makes each task's record from its instance at once).
 */
export function* templateInstances(task: TaskSpec): Generator<TaskInstance> {
  const fan = fanOf(task);
  for (let combination = 0; combination < fan.combinations; combination++) {
    // One matrix object and label for the copies of a combination.
    const matrix = matrixAt(task.matrix, combination);
    const label = matrixLabel(matrix);
    for (let copy = 0; copy < fan.copies; copy++) {
      yield instanceOf(task.name, fan, matrix, label, combination * fan.copies + copy);
    }
  }
}

/**
 * The task at `index` of a template's fan-out, as `expandJob` makes it, without making the others: an
 * agent checking a signed task re-derives its one task of a large fan-out this way.
 */
export function taskInstanceAt(task: TaskSpec, index: number): TaskInstance | null {
  const fan = fanOf(task);
  if (!Number.isSafeInteger(index) || index < 0 || index >= fan.count) return null;
  const matrix = matrixAt(task.matrix, Math.floor(index / fan.copies));
  return instanceOf(task.name, fan, matrix, matrixLabel(matrix), index);
}

interface Fan {
  combinations: number;
  copies: number;
  count: number;
}

function fanOf(task: TaskSpec): Fan {
  let combinations = 1;
  for (const values of Object.values(task.matrix ?? {})) combinations *= values.length;
  const copies = task.count ?? 1;
  return { combinations, copies, count: combinations * copies };
}

function instanceOf(
  template: string,
  fan: Fan,
  matrix: Record<string, string> | null,
  label: string,
  index: number,
): TaskInstance {
  const name = fan.copies > 1 ? `${template}${label}[${index % fan.copies}]` : template + label;
  return { template, name, index, count: fan.count, matrix };
}

/** `[os=linux,node=20]`, or nothing without a matrix. */
function matrixLabel(matrix: Record<string, string> | null): string {
  return matrix ? `[${Object.entries(matrix).map(([k, v]) => `${k}=${v}`).join(",")}]` : "";
}

/** Combination number `n` of a matrix, the last key varying fastest; null without a matrix. */
function matrixAt(matrix: Record<string, string[]> | undefined, n: number): Record<string, string> | null {
  const keys = Object.keys(matrix ?? {});
  if (keys.length === 0) return null;
  const picked: string[] = new Array(keys.length);
  for (let i = keys.length - 1; i >= 0; i--) {
    const values = matrix![keys[i]];
    picked[i] = values[n % values.length];
    n = Math.floor(n / values.length);
  }
  const combination: Record<string, string> = {};
  keys.forEach((key, i) => (combination[key] = picked[i]));
  return combination;
}

export type TaskKind = "shell" | "script" | "git" | "addon";

/** A task's settings with its job's defaults applied: what the tracker schedules by. */
export interface EffectiveTask {
  kind: TaskKind;
  /** The add-on an `addon` task uses, as `NAME@VERSION`; null for other kinds. */
  uses: string | null;
  env: Record<string, string>;
  /** Variables given secrets: variable name -> secret name (the job's, with the task's over them). */
  secrets: Record<string, string>;
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
  /** Most processes and threads at once (`resources.pids`, DEFAULT_PIDS when unset). */
  pids: number;
  priority: number;
  concurrency: number | null;
  /** The names of the tasks it needs (`needs` and `artifactsFrom`), each once. */
  needs: string[];
  /** What it wants of each (needs.ts): when it runs after it, and whether its artifacts. */
  needRules: NeedRule[];
}

export const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
export const DEFAULT_LOST_RETRIES = 3;

export function taskKind(task: TaskSpec): TaskKind {
  if (task.uses !== undefined) return "addon";
  if (task.git) return "git";
  if (task.script !== undefined || task.code !== undefined) return "script";
  return "shell";
}

export function effectiveTask(job: JobSpec, task: TaskSpec): EffectiveTask {
  return {
    kind: taskKind(task),
    uses: task.uses ?? null,
    env: { ...job.env, ...task.env },
    secrets: { ...job.secrets, ...task.secrets },
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
    pids: task.resources?.pids ?? job.resources?.pids ?? DEFAULT_PIDS,
    priority: task.priority ?? job.priority ?? 0,
    concurrency: task.concurrency ?? null,
    needs: needNames(task),
    needRules: needRules(task),
  };
}

/** The delay before retry number `retry` (1-based) under a backoff policy. */
export function backoffDelay(backoff: { delay: number; factor: number; max: number }, retry: number): number {
  return Math.min(backoff.max, backoff.delay * backoff.factor ** Math.max(0, retry - 1));
}
