/**
 * The job file: what a user writes. Parsed strictly so a typo is an error, not a silent no-op.
 * Job-level keys are defaults for every task; a task's own value wins. `expandJob` (job_expand.ts)
 * turns a spec into the concrete tasks the tracker schedules.
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { refProblem, repoKind } from "./git_url.ts";
import { permissionsSchema } from "./permissions.ts";
import { parseSize } from "./size.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MATRIX_KEY = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

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

/** A size: "512M", "2G", or a bare number of bytes. Parsed to bytes. */
export const sizeSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be a size like "512M" or "2G", got ${JSON.stringify(value)}` });
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

export const SELECTS = ["least_loaded", "random", "round_robin", "all"] as const;
export const STRATEGIES = ["spread", "binpack"] as const;

const regexpSchema = z.string().refine((source) => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}, "must be a valid regular expression");

/** A rule on an agent label (or `fabric.name`, `fabric.os`, `fabric.arch`). Exactly one operator. */
export const constraintSchema = z.strictObject({
  label: z.string().min(1).max(128),
  equals: z.string().optional(),
  notEquals: z.string().optional(),
  in: z.array(z.string()).min(1).optional(),
  exists: z.boolean().optional(),
  matches: regexpSchema.optional(),
}).refine(
  (c) => [c.equals, c.notEquals, c.in, c.exists, c.matches].filter((v) => v !== undefined).length === 1,
  'needs exactly one of "equals", "notEquals", "in", "exists", "matches"',
);
export type Constraint = z.output<typeof constraintSchema>;

export const resourcesSchema = z.strictObject({
  cpu: z.number().positive().max(4096).optional(),
  memory: sizeSchema.optional(),
  disk: sizeSchema.optional(),
});

/** "5s" for a fixed delay, or {delay, factor, max} for exponential backoff with a cap. */
export const backoffSchema = z.union([
  durationSchema.transform((delay) => ({ delay, factor: 1, max: delay })),
  z.strictObject({
    delay: durationSchema,
    factor: z.number().min(1).max(100).default(2),
    max: durationSchema.optional(),
  }).transform((b) => ({ delay: b.delay, factor: b.factor, max: b.max ?? 3_600_000 })),
]);
export type Backoff = z.output<typeof backoffSchema>;

const matrixSchema = z.record(
  z.string().regex(MATRIX_KEY, "is not letters, digits and '_' starting with a letter"),
  z.array(z.union([z.string(), z.number(), z.boolean()]).transform(String)).min(1, "needs at least one value"),
);

/** Keys a job may set as defaults for its tasks. */
const sharedFields = {
  env: envSchema.optional(),
  permissions: permissionsSchema.optional(),
  sandbox: z.boolean().optional(),
  timeout: durationSchema.optional(),
  grace: durationSchema.optional(),
  retries: z.number().int().min(0).max(100).optional(),
  backoff: backoffSchema.optional(),
  lostRetries: z.number().int().min(0).max(100).optional(),
  /** How long the tracker waits for a silent agent to come back before it runs the task elsewhere. */
  lostAfter: durationSchema.optional(),
  maxOutput: sizeSchema.optional(),
  select: z.enum(SELECTS).optional(),
  strategy: z.enum(STRATEGIES).optional(),
  constraints: z.array(constraintSchema).optional(),
  agents: z.array(nameSchema).min(1).optional(),
  exclude: z.array(nameSchema).optional(),
  resources: resourcesSchema.optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  concurrency: z.number().int().min(1).max(1_000_000).optional(),
};

export const gitSourceSchema = z.strictObject({
  // What no agent allows is refused here; a path on the agent's disk is left to the agent that gets
  // the task (`--allow-local-git`). The value is not repeated: it may hold credentials.
  repo: z.string().min(1).max(2048).superRefine((repo, ctx) => {
    const kind = repoKind(repo);
    if (!kind.ok) ctx.addIssue({ code: "custom", message: kind.reason });
  }),
  ref: z.string().min(1).max(256).default("HEAD").superRefine((ref, ctx) => {
    const problem = refProblem(ref);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  depth: z.number().int().min(1).max(1_000_000).optional(),
});

export const taskSpecSchema = z.strictObject({
  name: nameSchema,
  /** A shell task's script (or, with `git`, the command run in the checkout). */
  run: z.string().min(1, "must not be empty").optional(),
  shell: shellSchema.optional(),
  /** A script task: a TypeScript file shipped with the job from the submitter's machine. */
  script: z.string().min(1).max(1024).optional(),
  /** A script task written inline. */
  code: z.string().min(1, "must not be empty").optional(),
  git: gitSourceSchema.optional(),
  steps: z.array(z.string().min(1, "must not be empty")).min(1).optional(),
  count: z.number().int().min(1).max(1_000_000).optional(),
  matrix: matrixSchema.optional(),
  needs: z.array(nameSchema).optional(),
  ...sharedFields,
}).superRefine((task, ctx) => {
  const kinds = [task.script !== undefined, task.code !== undefined, task.git !== undefined].filter(Boolean).length;
  if (kinds > 1) {
    ctx.addIssue({ code: "custom", message: 'sets more than one of "script", "code" and "git"; pick one' });
  } else if (task.git) {
    if ((task.run === undefined) === (task.steps === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["git"],
        message: 'needs either "steps" or "run" (the commands to run in the checkout)',
      });
    }
  } else if (kinds === 1) {
    if (task.run !== undefined) {
      ctx.addIssue({ code: "custom", path: ["run"], message: "cannot be used with a script task" });
    }
  } else if (task.run === undefined) {
    ctx.addIssue({
      code: "custom",
      message: 'needs "run" (a shell task), "script" or "code" (a script task), or "git" and "steps"',
    });
  }
  if (task.steps !== undefined && !task.git) ctx.addIssue({ code: "custom", path: ["steps"], message: 'needs "git"' });
  if (task.shell !== undefined && task.run === undefined && task.steps === undefined) {
    ctx.addIssue({ code: "custom", path: ["shell"], message: "applies only to run or steps" });
  }
});

export const jobSpecSchema = z.strictObject({
  name: nameSchema,
  ...sharedFields,
  tasks: z.array(taskSpecSchema).min(1, "a job needs at least one task"),
}).superRefine(checkTaskGraph);

/** The job file as written (durations still strings). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The job file after validation (durations in milliseconds, sizes in bytes). */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type TaskSpec = z.output<typeof taskSpecSchema>;

type TaskGraph = {
  tasks: Array<{ name: string; needs?: string[]; count?: number; matrix?: Record<string, string[]> }>;
};

/** Names are unique, `needs` name existing tasks, the dependencies form no cycle, fan-out is bounded. */
function checkTaskGraph(job: TaskGraph, ctx: z.RefinementCtx): void {
  const index = new Map<string, number>();
  job.tasks.forEach((task, i) => {
    if (index.has(task.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["tasks", i, "name"],
        message: `repeats the name "${task.name}" of tasks[${index.get(task.name)}]`,
      });
    } else index.set(task.name, i);
  });
  job.tasks.forEach((task, i) => {
    (task.needs ?? []).forEach((need, j) => {
      if (need === task.name) {
        ctx.addIssue({ code: "custom", path: ["tasks", i, "needs", j], message: `names the task itself` });
      } else if (!index.has(need)) {
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, "needs", j],
          message: `names "${need}", which is not a task of this job`,
        });
      }
    });
  });
  const cycle = findCycle(job.tasks);
  if (cycle) {
    ctx.addIssue({
      code: "custom",
      path: ["tasks", index.get(cycle[0])!, "needs"],
      message: `forms a cycle: ${cycle.map((n) => `"${n}"`).join(" -> ")}`,
    });
  }
  const total = job.tasks.reduce((n, t) => n + fanOut(t), 0);
  if (total > 1_000_000) {
    ctx.addIssue({
      code: "custom",
      path: ["tasks"],
      message: `expand to ${total} tasks; a job may hold at most 1000000`,
    });
  }
}

/** How many concrete tasks one task spec becomes. */
export function fanOut(task: { count?: number; matrix?: Record<string, string[]> }): number {
  const combinations = Object.values(task.matrix ?? {}).reduce((n, values) => n * values.length, 1);
  return combinations * (task.count ?? 1);
}

function findCycle(tasks: TaskGraph["tasks"]): string[] | null {
  const needs = new Map(tasks.map((t) => [t.name, (t.needs ?? []).filter((n) => n !== t.name)]));
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === "done" || !needs.has(name)) return null;
    if (state.get(name) === "visiting") return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, "visiting");
    stack.push(name);
    for (const next of needs.get(name)!) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, "done");
    return null;
  };
  for (const task of tasks) {
    const cycle = visit(task.name);
    if (cycle) return cycle;
  }
  return null;
}
