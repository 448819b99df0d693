/**
 * The checks of a job file that read more than one key: a task's variables and secrets with its job's
 * over which they are merged, and the periodic keys together.
 */
import type { z } from "zod";
import { MAX_ENV_BYTES, MAX_TASK_SECRETS } from "./limits.ts";
import { cronProblem, timezoneProblem } from "./schedule.ts";
import { envBytes } from "./spec_values.ts";

/** A task's variables are its job's with its own over them: together within the limit. */
export function checkEnvSizes(
  job: { env?: Record<string, string>; tasks: Array<{ env?: Record<string, string> }> },
  ctx: z.RefinementCtx,
): void {
  if (job.env === undefined) return;
  job.tasks.forEach((task, i) => {
    if (task.env === undefined) return;
    const bytes = envBytes({ ...job.env, ...task.env });
    if (bytes > MAX_ENV_BYTES) {
      ctx.addIssue({
        code: "custom",
        path: ["tasks", i, "env"],
        message: `with the job's "env" holds ${bytes} bytes of variables; at most ${MAX_ENV_BYTES}`,
      });
    }
  });
}

/**
 * A task's secrets are its job's with its own over them: within the limit, and no variable both a
 * secret and an `env` value (which one the task saw would be a guess).
 */
export function checkSecrets(
  job: {
    env?: Record<string, string>;
    secrets?: Record<string, string>;
    tasks: Array<{ name: string; env?: Record<string, string>; secrets?: Record<string, string> }>;
  },
  ctx: z.RefinementCtx,
): void {
  job.tasks.forEach((task, i) => {
    if (job.secrets === undefined && task.secrets === undefined) return;
    const secrets = { ...job.secrets, ...task.secrets };
    const where = task.secrets === undefined ? ["secrets"] : ["tasks", i, "secrets"];
    const count = Object.keys(secrets).length;
    if (count > MAX_TASK_SECRETS) {
      ctx.addIssue({
        code: "custom",
        path: where,
        message: `with the job's "secrets" names ${count} secrets for task "${task.name}"; at most ${MAX_TASK_SECRETS}`,
      });
    }
    const env = { ...job.env, ...task.env };
    const both = Object.keys(secrets).find((variable) => Object.hasOwn(env, variable));
    if (both !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: where,
        message: `gives the variable "${both}", which "env" sets too (task "${task.name}"); keep one`,
      });
    }
  });
}

/**
 * A schedule croner reads, in a time zone that exists, that fires at least once more; the other
 * periodic keys only with it. "Now" is the validating machine's clock: the tracker checks again by its own.
 */
export function checkSchedule(
  job: { schedule?: string; timezone?: string; overlap?: string; catchUp?: number },
  ctx: z.RefinementCtx,
): void {
  if (job.schedule === undefined) {
    for (const key of ["timezone", "overlap", "catchUp"] as const) {
      if (job[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: 'applies only with "schedule"' });
      }
    }
    return;
  }
  const zoneProblem = job.timezone === undefined ? null : timezoneProblem(job.timezone);
  if (zoneProblem !== null) return ctx.addIssue({ code: "custom", path: ["timezone"], message: zoneProblem });
  const problem = cronProblem(job.schedule, job.timezone ?? "UTC", Date.now());
  if (problem !== null) ctx.addIssue({ code: "custom", path: ["schedule"], message: problem });
}
