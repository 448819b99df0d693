/**
 * The job file: what a user writes. Parsed strictly so a typo is an error, not a silent no-op.
 * Job-level keys are defaults for every task; a task's own value wins. `expandJob` (job_expand.ts)
 * turns a spec into the concrete tasks the tracker schedules.
 *
 * Its parts: the values keys hold (spec_values.ts), where tasks run (task_placement.ts), their files and
 * artifacts (task_files.ts), their graph (task_graph.ts) and the checks across keys (job_checks.ts).
 */
import { z } from "zod";
import { refProblem, repoKind } from "./git_url.ts";
import {
  MAX_CONSTRAINTS,
  MAX_JOB_TASKS,
  MAX_MATRIX_KEYS,
  MAX_MATRIX_VALUES,
  MAX_NEEDS,
  MAX_RUN_BYTES,
  MAX_SCRIPT_BYTES,
  MAX_TASK_SPECS,
} from "./limits.ts";
import { checkEnvNames } from "./env_names.ts";
import { permissionsSchema } from "./permissions.ts";
import { jobSecretsSchema } from "./secret.ts";
import { MAX_FILE_PATTERNS } from "./blob.ts";
import { needSchema } from "./needs.ts";
import { textSchema } from "./text.ts";
import { addonRefSchema, MAX_WITH_BYTES } from "./addon.ts";
import { MAX_SCHEDULE_CHARS, MAX_TIMEZONE_CHARS, OVERLAPS } from "./schedule.ts";
import {
  backoffSchema,
  durationSchema,
  envSchema,
  nameSchema,
  retentionSchema,
  shellSchema,
  sizeSchema,
  valueSchema,
} from "./spec_values.ts";
import { constraintSchema, resourcesSchema, SELECTS, STRATEGIES } from "./task_placement.ts";
import { artifactsSchema, filePatternSchema } from "./task_files.ts";
import { checkTaskGraph } from "./task_graph.ts";
import { checkEnvSizes, checkSchedule, checkSecrets } from "./job_checks.ts";

const MATRIX_KEY = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

const matrixSchema = z.record(
  z.string().regex(MATRIX_KEY, "is not letters, digits and '_' starting with a letter"),
  z.array(z.union([valueSchema, z.number(), z.boolean()]).transform(String))
    .min(1, "needs at least one value")
    .max(MAX_MATRIX_VALUES),
).refine((matrix) => Object.keys(matrix).length <= MAX_MATRIX_KEYS, `may have at most ${MAX_MATRIX_KEYS} keys`);

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
  needs: z.array(needSchema).max(MAX_NEEDS).optional(),
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

/** The job file as written (durations still strings). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The job file after validation (durations in milliseconds, sizes in bytes). */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type TaskSpec = z.output<typeof taskSpecSchema>;
