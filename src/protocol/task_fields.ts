/**
 * The part of an assignment that comes from the job file alone. The tracker builds assignments with it;
 * an agent that checks signed jobs (agent/job_verifier.ts) builds it again from the signed job and
 * compares: one function, so the two cannot drift apart, and a field added to `AssignmentBase` must be added
 * here (the type says so) or to the tracker's own fields below, which a signature does not cover.
 */
import { type AssignmentBase, type Work, workOf } from "./assignment.ts";
import type { EffectiveTask } from "./job_expand.ts";
import type { JobSpec, TaskSpec } from "./job_spec.ts";

/**
 * What the tracker adds to an assignment: which task and attempt, what its dependencies produced, the
 * signature itself, and the secrets' values (which variables they are is the job's: a checking agent
 * compares their names with the signed job's `secrets`). The task's place in its fan-out (`name`, `index`, `count`, `matrix`) is the tracker's
 * choice too, but a checking agent re-derives it from the signed job.
 */
export const TRACKER_FIELDS = [
  "taskId",
  "attempt",
  "jobId",
  "needs",
  "signed",
  "secrets",
  "name",
  "index",
  "count",
  "matrix",
  "pack",
  "inputs",
] as const satisfies ReadonlyArray<keyof AssignmentBase>;

/** The rest of an assignment: its kind's part (`workOf`) and the settings every kind has. */
export type SpecFields = Omit<AssignmentBase, typeof TRACKER_FIELDS[number]> & Work;

export interface SpecFieldsOptions {
  /** `effectiveTask(job, task)`, which the tracker keeps per template. */
  effective: EffectiveTask;
  /** The job's shipped script files: path -> content. */
  files: Record<string, string>;
  /** The grace period of a task whose job file sets none: the tracker's setting. */
  defaultGraceMs: number;
}

/** The settings of `task` of `job` as an agent runs them. */
export function specFields(job: JobSpec, task: TaskSpec, options: SpecFieldsOptions): SpecFields {
  const { effective } = options;
  return {
    jobName: job.name,
    env: effective.env,
    permissions: effective.permissions,
    sandbox: effective.sandbox,
    timeoutMs: effective.timeoutMs,
    graceMs: effective.graceMs ?? options.defaultGraceMs,
    memoryBytes: effective.resources.memory > 0 ? effective.resources.memory : null,
    diskBytes: effective.resources.disk > 0 ? effective.resources.disk : null,
    pids: effective.pids,
    maxOutputBytes: effective.maxOutputBytes,
    artifacts: task.artifacts ?? null,
    ...workOf(task, options.files),
  };
}
