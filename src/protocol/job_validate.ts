/**
 * A job spec from outside (a parsed job file, an API body), checked first as a document (nesting,
 * size, clean text: document.ts) and then by its schema, so that no input reaches zod's recursion
 * or the tracker's store without passing the limits.
 */
import type { z } from "zod";
import { checkDocument } from "./document.ts";
import { checkEnvNames } from "./env_names.ts";
import { type JobSpec, jobSpecSchema } from "./job_spec.ts";
import { checkTaskGraph, type TaskGraph } from "./task_graph.ts";
import { MAX_MATRIX_KEYS, MAX_NEEDS, MAX_TASK_SPECS } from "./limits.ts";
import { needName } from "./needs.ts";

export type JobSpecResult =
  | { success: true; data: JobSpec }
  | { success: false; issues: z.core.$ZodIssue[] };

export function validateJobSpec(raw: unknown): JobSpecResult {
  const problems = checkDocument(raw);
  if (problems.length > 0) {
    const issues = problems.map((p): z.core.$ZodIssue => ({ code: "custom", path: p.path, message: p.message }));
    return { success: false, issues };
  }
  const parsed = jobSpecSchema.safeParse(raw);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, issues: withJobChecks(parsed.error.issues, raw) };
}

/**
 * zod runs the job's own checks (the `needs` graph, variable names) only when every field parsed:
 * a file with a field of the wrong type and a `needs` naming no task was told in two rounds. The
 * checks run here too, on the tasks as far as they can be read, and add what zod did not say.
 */
function withJobChecks(issues: z.core.$ZodIssue[], raw: unknown): z.core.$ZodIssue[] {
  const job = readableGraph(raw);
  if (!job) return issues;
  const seen = new Set(issues.map(issueKey));
  const more: z.core.$ZodIssue[] = [];
  const ctx = {
    addIssue(issue: { code: "custom"; path: PropertyKey[]; message: string }) {
      const full: z.core.$ZodIssue = { code: "custom", path: issue.path, message: issue.message, input: undefined };
      if (!seen.has(issueKey(full))) more.push(full);
    },
  } as unknown as z.RefinementCtx;
  checkTaskGraph(job, ctx);
  checkEnvNames(job, ctx);
  return [...issues, ...more];
}

function issueKey(issue: z.core.$ZodIssue): string {
  return JSON.stringify([issue.path.map(String), issue.message]);
}

/**
 * The tasks' names, needs, counts and matrices, when every task has a name that is text (else a
 * `needs` of a task whose name is unreadable would wrongly name "no task") and the lists are within
 * their limits (else their own issue says enough). Values of the wrong type count as absent: their
 * own issue is already said.
 */
function readableGraph(raw: unknown): TaskGraph | null {
  if (!isRecord(raw) || !Array.isArray(raw.tasks) || raw.tasks.length > MAX_TASK_SPECS) return null;
  const tasks: TaskGraph["tasks"] = [];
  for (const task of raw.tasks) {
    if (!isRecord(task) || typeof task.name !== "string") return null;
    if (Array.isArray(task.needs) && task.needs.length > MAX_NEEDS) return null;
    if (isRecord(task.matrix) && Object.keys(task.matrix).length > MAX_MATRIX_KEYS) return null;
    const needs = Array.isArray(task.needs) ? task.needs.map(needName).filter((n) => n !== undefined) : [];
    const artifactsFrom = Array.isArray(task.artifactsFrom) && task.artifactsFrom.length <= MAX_NEEDS
      ? task.artifactsFrom.filter((n): n is string => typeof n === "string")
      : [];
    const count = Number.isSafeInteger(task.count) && (task.count as number) > 0 ? task.count as number : 1;
    const matrix: Record<string, string[]> = {};
    if (isRecord(task.matrix)) {
      for (const [key, values] of Object.entries(task.matrix)) if (Array.isArray(values)) matrix[key] = values;
    }
    tasks.push({ name: task.name, needs, artifactsFrom, count, matrix });
  }
  return { tasks };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
