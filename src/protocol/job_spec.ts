/**
 * The job file: what a user writes. Parsed strictly so a typo is an error, not a silent no-op.
 * `expandJob` turns a spec into the concrete tasks the tracker schedules.
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const nameSchema = z.string().regex(
  NAME,
  "must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63)",
);

/** A duration: "30s", "5m", "1h", or a bare number of seconds. Parsed to milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: `must be a duration like "30s", "5m" or "1h30m", got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
});

export const envSchema = z.record(
  z.string().regex(ENV_NAME, "must be a valid environment variable name"),
  z.union([z.string(), z.number(), z.boolean()]).transform(String),
);

/** bash, sh, python, or a command line with "{0}" where the script file goes (as GitHub Actions). */
export const shellSchema = z.string().refine(
  (s) => ["bash", "sh", "python"].includes(s) || s.includes("{0}"),
  'must be "bash", "sh", "python" or a command containing "{0}"',
);

export const taskSpecSchema = z.strictObject({
  name: nameSchema,
  run: z.string().min(1, "must not be empty"),
  shell: shellSchema.optional(),
  env: envSchema.optional(),
  timeout: durationSchema.optional(),
  count: z.number().int().min(1).max(1_000_000).optional(),
});

export const jobSpecSchema = z.strictObject({
  name: nameSchema,
  env: envSchema.optional(),
  tasks: z.array(taskSpecSchema).min(1, "a job needs at least one task"),
}).superRefine((job, ctx) => {
  const seen = new Map<string, number>();
  job.tasks.forEach((task, i) => {
    if (seen.has(task.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["tasks", i, "name"],
        message: `repeats the name "${task.name}" of tasks[${seen.get(task.name)}]`,
      });
    }
    seen.set(task.name, i);
  });
  const total = job.tasks.reduce((n, t) => n + (t.count ?? 1), 0);
  if (total > 1_000_000) {
    ctx.addIssue({
      code: "custom",
      path: ["tasks"],
      message: `expand to ${total} tasks; a job may hold at most 1000000`,
    });
  }
});

/** The job file as written (durations still strings). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The job file after validation (durations in milliseconds). */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type TaskSpec = z.output<typeof taskSpecSchema>;

/** What one concrete task runs: a task spec with its place in a `count` fan-out. */
export interface TaskTemplateRef {
  /** The name in the job file. */
  template: string;
  /** Display name: the template name, with `[i]` when the template fans out. */
  name: string;
  index: number;
  count: number;
}

/** The concrete tasks of a job, in the order they are queued. */
export function expandJob(job: JobSpec): TaskTemplateRef[] {
  const out: TaskTemplateRef[] = [];
  for (const task of job.tasks) {
    const count = task.count ?? 1;
    for (let index = 0; index < count; index++) {
      out.push({ template: task.name, name: count > 1 ? `${task.name}[${index}]` : task.name, index, count });
    }
  }
  return out;
}
