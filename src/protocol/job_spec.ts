/**
 * The job file: what a user writes. Parsed strictly so a typo is an error, not a silent no-op.
 * Job-level keys are defaults for every task; a task's own value wins. `expandJob` (job_expand.ts)
 * turns a spec into the concrete tasks the tracker schedules.
 */
import { z } from "zod";
import { DurationTooLongError, MAX_DURATION_DAYS, parseDuration } from "./duration.ts";
import { refProblem, repoKind } from "./git_url.ts";
import {
  MAX_CONSTRAINTS,
  MAX_ENV_BYTES,
  MAX_ENV_VALUE_BYTES,
  MAX_ENV_VARS,
  MAX_JOB_TASKS,
  MAX_MATRIX_KEYS,
  MAX_MATRIX_VALUES,
  MAX_NEEDS,
  MAX_RETENTION_MS,
  MAX_RUN_BYTES,
  MAX_SCRIPT_BYTES,
  MAX_TASK_SECRETS,
  MAX_TASK_SPECS,
  MAX_VALUE_CHARS,
} from "./limits.ts";
import { checkEnvNames } from "./env_names.ts";
import { patternSchema } from "./pattern.ts";
import { permissionsSchema } from "./permissions.ts";
import { jobSecretsSchema } from "./secret.ts";
import { ARTIFACT_WHEN, MAX_ARTIFACT_PATTERNS, MAX_FILE_PATTERNS, MAX_PACK_PATH } from "./blob.ts";
import { type Need, needName, needNames, needSchema } from "./needs.ts";
import { parseSize } from "./size.ts";
import { textSchema, utf8Length } from "./text.ts";
import { addonRefSchema, MAX_WITH_BYTES } from "./addon.ts";
import { cronProblem, MAX_SCHEDULE_CHARS, MAX_TIMEZONE_CHARS, OVERLAPS, timezoneProblem } from "./schedule.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const MATRIX_KEY = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

export const nameSchema = z.string().regex(
  NAME,
  "must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63)",
);

/** A duration: "30s", "5m", "1h", or a bare number of seconds. Parsed to milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    const shown = JSON.stringify(typeof value === "string" && value.length > 40 ? `${value.slice(0, 40)}…` : value);
    ctx.addIssue({
      code: "custom",
      message: error instanceof DurationTooLongError
        ? `may be at most ${MAX_DURATION_DAYS}d, got ${shown}`
        : `must be a duration like "30s", "5m" or "1h30m", got ${shown}`,
    });
    return z.NEVER;
  }
});

/**
 * How long a job is kept after it ended (a job asks to be kept longer than the tracker's `--retention`).
 * Up to MAX_RETENTION_MS: it is compared with the time the job ended, never put in a timer.
 */
export const retentionSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value, MAX_RETENTION_MS);
  } catch (error) {
    const shown = JSON.stringify(value);
    ctx.addIssue({
      code: "custom",
      message: error instanceof DurationTooLongError
        ? `may be at most ${MAX_RETENTION_MS / 86_400_000}d, got ${shown}`
        : `must be a duration like "30d" or "12h", got ${shown}`,
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

/** Variables: each `NAME=value` and the whole set within what Linux passes to a new program. */
export const envSchema = z.record(
  z.string().regex(ENV_NAME, "must be a valid environment variable name (at most 256 characters)"),
  z.union([textSchema(MAX_ENV_VALUE_BYTES), z.number(), z.boolean()]).transform(String),
).superRefine((env, ctx) => {
  const names = Object.keys(env);
  if (names.length > MAX_ENV_VARS) {
    ctx.addIssue({ code: "custom", message: `may hold at most ${MAX_ENV_VARS} variables, got ${names.length}` });
  }
  const bytes = envBytes(env);
  if (bytes > MAX_ENV_BYTES) {
    ctx.addIssue({ code: "custom", message: `may hold at most ${MAX_ENV_BYTES} bytes of variables, got ${bytes}` });
  }
});

/** The size of variables as the kernel counts them: `NAME=value` and a NUL each. */
export function envBytes(env: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(env)) bytes += name.length + utf8Length(value) + 2;
  return bytes;
}

/** bash, sh, python, or a command line with "{0}" where the script file goes (as GitHub Actions). */
export const shellSchema = textSchema().max(1024).refine(
  (s) => ["bash", "sh", "python"].includes(s) || s.includes("{0}"),
  'must be "bash", "sh", "python" or a command containing "{0}"',
);

export const SELECTS = ["least_loaded", "random", "round_robin", "all"] as const;
export const STRATEGIES = ["spread", "binpack"] as const;

const valueSchema = textSchema().max(MAX_VALUE_CHARS);

/**
 * A rule on an agent label (or `fabric.name`, `fabric.os`, `fabric.arch`). Exactly one operator.
 * `matches` is an RE2 pattern (pattern.ts): agents choose their labels, and a backtracking regex over
 * one froze the tracker.
 */
export const constraintSchema = z.strictObject({
  label: textSchema().min(1).max(128),
  equals: valueSchema.optional(),
  notEquals: valueSchema.optional(),
  in: z.array(valueSchema).min(1).max(MAX_MATRIX_VALUES).optional(),
  exists: z.boolean().optional(),
  matches: patternSchema.optional(),
}).refine(
  (c) => [c.equals, c.notEquals, c.in, c.exists, c.matches].filter((v) => v !== undefined).length === 1,
  'needs exactly one of "equals", "notEquals", "in", "exists", "matches"',
);
export type Constraint = z.output<typeof constraintSchema>;

/** The most processes (and threads) a task may have at once when its job sets no `resources.pids`. */
export const DEFAULT_PIDS = 1024;
/** Fewer could not even start the sandbox (bwrap and its init count) and a shell with a pipe. */
const MIN_PIDS = 8;
/** The kernel's own ceiling on process ids (PID_MAX_LIMIT). */
const MAX_PIDS = 4_194_304;

export const resourcesSchema = z.strictObject({
  cpu: z.number().positive().max(4096).optional(),
  memory: sizeSchema.optional(),
  /** Placement capacity, and enforced: the task's directory may not grow past it (reason `disk`). */
  disk: sizeSchema.optional(),
  /** Processes and threads the task may have at once, its sandbox's own included. */
  pids: z.number().int().min(MIN_PIDS).max(MAX_PIDS).optional(),
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
  z.array(z.union([valueSchema, z.number(), z.boolean()]).transform(String))
    .min(1, "needs at least one value")
    .max(MAX_MATRIX_VALUES),
).refine((matrix) => Object.keys(matrix).length <= MAX_MATRIX_KEYS, `may have at most ${MAX_MATRIX_KEYS} keys`);

/**
 * A path or glob of `files:`, relative to the job file's folder. A path that leaves the folder is
 * refused by `fabric submit` unless it is given `--allow-outside` (the CLI knows where the folder is).
 */
export const filePatternSchema = textSchema().min(1).max(MAX_PACK_PATH).refine(
  (path) => !path.startsWith("/") && !path.includes("\0"),
  "must be a path or glob relative to the job file's folder",
);

/** A glob of `artifacts:`, relative to the task's directory. */
const artifactPatternSchema = textSchema().min(1).max(MAX_PACK_PATH).refine(
  (path) => !path.startsWith("/") && !path.split("/").includes(".."),
  `must be a path or glob relative to the task's directory, without ".."`,
);
const artifactPathsSchema = z.array(artifactPatternSchema).min(1).max(MAX_ARTIFACT_PATTERNS);

/** `artifacts: [globs]`, or `{paths: [globs], when}`; kept when the task succeeded unless `when` says otherwise. */
export const artifactsSchema = z.union([
  artifactPathsSchema.transform((paths) => ({ paths, when: "on_success" as const })),
  z.strictObject({ paths: artifactPathsSchema, when: z.enum(ARTIFACT_WHEN).default("on_success") }),
]);

/** Keys a job may set as defaults for its tasks. */
const sharedFields = {
  /** The submitter's files each task starts with (a task's own list replaces its job's; `[]`: none). */
  files: z.array(filePatternSchema).max(MAX_FILE_PATTERNS).optional(),
  env: envSchema.optional(),
  /** Secrets given as variables: `[NAME]`, or `{VARIABLE: NAME}` (secret.ts). */
  secrets: jobSecretsSchema.optional(),
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
  constraints: z.array(constraintSchema).max(MAX_CONSTRAINTS).optional(),
  agents: z.array(nameSchema).min(1).max(MAX_TASK_SPECS).optional(),
  exclude: z.array(nameSchema).max(MAX_TASK_SPECS).optional(),
  resources: resourcesSchema.optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  concurrency: z.number().int().min(1).max(1_000_000).optional(),
};

/**
 * A script file, relative to the job file's folder and inside it: the CLI reads it from there (and,
 * links resolved, refuses one outside), so that a job file cannot ship the submitter's other files.
 */
export const scriptPathSchema = textSchema().min(1).max(1024).refine(
  (path) => !path.startsWith("/") && !path.split(/[\\/]/).includes(".."),
  `must be a path relative to the job file's folder, without ".."`,
);

export const gitSourceSchema = z.strictObject({
  // What no agent allows is refused here; a path on the agent's disk is left to the agent that gets
  // the task (`--allow-local-git`). The value is not repeated: it may hold credentials.
  repo: textSchema().min(1).max(2048).superRefine((repo, ctx) => {
    const kind = repoKind(repo);
    if (!kind.ok) ctx.addIssue({ code: "custom", message: kind.reason });
  }),
  ref: textSchema().min(1).max(256).default("HEAD").superRefine((ref, ctx) => {
    const problem = refProblem(ref);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  depth: z.number().int().min(1).max(1_000_000).optional(),
});

export const taskSpecSchema = z.strictObject({
  name: nameSchema,
  /** A shell task's script (or, with `git`, the command run in the checkout). */
  run: textSchema(MAX_RUN_BYTES).min(1, "must not be empty").optional(),
  shell: shellSchema.optional(),
  /** A script task: a TypeScript file shipped with the job from the submitter's machine. */
  script: scriptPathSchema.optional(),
  /** A script task written inline. */
  code: textSchema(MAX_SCRIPT_BYTES).min(1, "must not be empty").optional(),
  git: gitSourceSchema.optional(),
  /** An add-on task: `NAME@VERSION` of an add-on some agent has (addon.ts). */
  uses: addonRefSchema.optional(),
  /** The add-on's parameters, checked against its JSON Schema by the tracker and the agent. */
  with: z.record(z.string(), z.unknown()).refine(
    (value) => JSON.stringify(value).length <= MAX_WITH_BYTES,
    `may be at most ${MAX_WITH_BYTES} bytes as JSON`,
  ).optional(),
  steps: z.array(textSchema(MAX_RUN_BYTES).min(1, "must not be empty")).min(1).max(1000).optional(),
  count: z.number().int().min(1).max(MAX_JOB_TASKS).optional(),
  matrix: matrixSchema.optional(),
  /** Tasks this one runs after: names, or `{task, artifacts, when}` (needs.ts). */
  needs: z.array(needSchema(nameSchema)).max(MAX_NEEDS).optional(),
  /** Tasks whose artifacts this one starts with (each is a need too). */
  artifactsFrom: z.array(nameSchema).min(1).max(MAX_NEEDS).optional(),
  /** Files the task leaves that are kept (uploaded by its agent when it ends). */
  artifacts: artifactsSchema.optional(),
  ...sharedFields,
}).superRefine((task, ctx) => {
  if (task.with !== undefined && task.uses === undefined) {
    ctx.addIssue({ code: "custom", path: ["with"], message: 'applies only with "uses" (an add-on\'s parameters)' });
  }
  if (task.uses !== undefined) {
    const others = (["run", "script", "code", "git", "steps", "shell"] as const).filter((key) =>
      task[key] !== undefined
    );
    if (others.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: [others[0]],
        message: 'cannot be used with "uses": an add-on task runs what its add-on says',
      });
    }
    return;
  }
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
      message:
        'needs "run" (a shell task), "script" or "code" (a script task), "git" and "steps", or "uses" (an add-on)',
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
  /** Keep the job this long after it ended, when that is longer than the tracker's --retention. */
  retention: retentionSchema.optional(),
  /** A periodic job: `fabric submit` registers it, and the tracker launches a run at each time (schedule.ts). */
  schedule: textSchema().min(1, "must not be empty").max(MAX_SCHEDULE_CHARS).optional(),
  timezone: textSchema().min(1).max(MAX_TIMEZONE_CHARS).optional(),
  overlap: z.enum(OVERLAPS).optional(),
  catchUp: durationSchema.optional(),
  tasks: z.array(taskSpecSchema).min(1, "a job needs at least one task").max(MAX_TASK_SPECS),
}).superRefine(checkTaskGraph).superRefine(checkEnvNames).superRefine(checkEnvSizes).superRefine(checkSecrets)
  .superRefine(checkSchedule);

/** The paths and globs of files a task starts with: its own `files:`, else its job's; null for none. */
export function taskFilePatterns(job: { files?: string[] }, task: { files?: string[] }): string[] | null {
  const patterns = task.files ?? job.files ?? null;
  return patterns !== null && patterns.length > 0 ? patterns : null;
}

/** The job file as written (durations still strings). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The job file after validation (durations in milliseconds, sizes in bytes). */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type TaskSpec = z.output<typeof taskSpecSchema>;

export type TaskGraph = {
  tasks: Array<
    { name: string; needs?: Need[]; artifactsFrom?: string[]; count?: number; matrix?: Record<string, string[]> }
  >;
};

/** Names are unique, `needs` name existing tasks, the dependencies form no cycle, fan-out is bounded. */
export function checkTaskGraph(job: TaskGraph, ctx: z.RefinementCtx): void {
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
    const named = (need: string, path: PropertyKey[]) => {
      if (need === task.name) {
        ctx.addIssue({ code: "custom", path, message: `names the task itself` });
      } else if (!index.has(need)) {
        ctx.addIssue({ code: "custom", path, message: `names "${need}", which is not a task of this job` });
      }
    };
    const first = new Map<string, { need: Need; at: number }>();
    (task.needs ?? []).forEach((need, j) => {
      const name = needName(need);
      if (name === undefined) return;
      named(name, ["tasks", i, "needs", j]);
      const earlier = first.get(name);
      if (!earlier) first.set(name, { need, at: j });
      else if (JSON.stringify(earlier.need) !== JSON.stringify(need)) {
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, "needs", j],
          message: `names "${name}" again, otherwise than needs[${earlier.at}]; keep one`,
        });
      }
    });
    (task.artifactsFrom ?? []).forEach((need, j) => named(need, ["tasks", i, "artifactsFrom", j]));
  });
  const cycle = findCycle(job.tasks);
  if (cycle) {
    ctx.addIssue({
      code: "custom",
      path: ["tasks", index.get(cycle[0])!, "needs"],
      message: `forms a cycle: ${describeCycle(cycle)}`,
    });
  }
  const total = job.tasks.reduce((n, t) => n + fanOut(t), 0);
  if (total > MAX_JOB_TASKS) {
    ctx.addIssue({
      code: "custom",
      path: ["tasks"],
      message: `expand to ${total > 1e15 ? "more than 10^15" : total} tasks; a job may hold at most ${MAX_JOB_TASKS}`,
    });
  }
}

/** A task's variables are its job's with its own over them: together within the limit. */
function checkEnvSizes(
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
function checkSecrets(
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
function checkSchedule(
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

/** `"a" -> "b" -> "a"`, with the middle of a long cycle left out. */
function describeCycle(cycle: string[]): string {
  const names = cycle.map((n) => `"${n}"`);
  if (names.length <= 12) return names.join(" -> ");
  return [...names.slice(0, 10), `… (${names.length - 12} more)`, ...names.slice(-2)].join(" -> ");
}

/** How many concrete tasks one task spec becomes. */
export function fanOut(task: { count?: number; matrix?: Record<string, string[]> }): number {
  const combinations = Object.values(task.matrix ?? {}).reduce((n, values) => n * values.length, 1);
  return combinations * (task.count ?? 1);
}

/**
 * The first cycle of `needs`, as names from a task back to itself, or null. A depth-first search
 * with its own stack (a chain of thousands of tasks overflowed the call stack): each name is entered
 * once and each edge followed once, so it costs O(tasks + needs).
 */
export function findCycle(tasks: TaskGraph["tasks"]): string[] | null {
  const needs = new Map(tasks.map((t) => [t.name, needNames(t).filter((n) => n !== t.name)]));
  const state = new Map<string, "visiting" | "done">();
  for (const task of tasks) {
    if (state.has(task.name)) continue;
    // The path being explored: each name with the index of its next need to follow.
    const path: Array<{ name: string; next: number }> = [{ name: task.name, next: 0 }];
    state.set(task.name, "visiting");
    while (path.length > 0) {
      const top = path[path.length - 1];
      const edges = needs.get(top.name)!;
      if (top.next === edges.length) {
        state.set(top.name, "done");
        path.pop();
        continue;
      }
      const need = edges[top.next++];
      if (!needs.has(need) || state.get(need) === "done") continue;
      if (state.get(need) === "visiting") {
        const from = path.findIndex((step) => step.name === need);
        return [...path.slice(from).map((step) => step.name), need];
      }
      state.set(need, "visiting");
      path.push({ name: need, next: 0 });
    }
  }
  return null;
}
