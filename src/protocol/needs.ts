/**
 * A task's dependencies as the job file writes them: `needs: [build]`, or an entry with a condition and
 * artifacts (`needs: [{task: build, artifacts: true}, {task: test, when: always}]`), and the shorthand
 * `artifactsFrom: [build]` (a need whose artifacts are wanted). Read into one rule per task needed.
 */
import { z } from "zod";
import { nameSchema } from "./spec_values.ts";

/**
 * When a task runs after the one it needs has ended (every copy of it): only if it succeeded (the
 * default, as without a condition), only if it did not (a copy failed, was cancelled or skipped), or
 * whatever the outcome (GitHub Actions' `if: always()`). A task whose condition cannot hold any more
 * ends `skipped`.
 */
export const NEED_WHEN = ["on_success", "on_failure", "always"] as const;
export type NeedWhen = typeof NEED_WHEN[number];

/** A `needs` entry: a task's name, or `{task, artifacts?, when?}`. */
export type Need = string | { task: string; artifacts?: boolean; when?: NeedWhen };

/** One task needed, with what is wanted of it. */
export interface NeedRule {
  task: string;
  /** Its artifacts are put in the needing task's directory before it starts. */
  artifacts: boolean;
  when: NeedWhen;
}

/** An entry of `needs`: a task's name, or the task with what is wanted of it. */
export const needSchema = z.union([
  nameSchema,
  z.strictObject({ task: nameSchema, artifacts: z.boolean().optional(), when: z.enum(NEED_WHEN).optional() }),
]);

/** The name an entry of `needs` gives (undefined for one that is neither form: its own issue says so). */
export function needName(need: unknown): string | undefined {
  if (typeof need === "string") return need;
  if (typeof need === "object" && need !== null && typeof (need as { task?: unknown }).task === "string") {
    return (need as { task: string }).task;
  }
  return undefined;
}

/**
 * The rules of a task, one per task it needs, in the order written: `needs` first, then the names of
 * `artifactsFrom` (which add a need, on success, where `needs` does not name the task, and else ask
 * for its artifacts). A name written twice in `needs` is one rule (validation refuses the two when
 * they differ).
 */
export function needRules(task: { needs?: readonly Need[]; artifactsFrom?: readonly string[] }): NeedRule[] {
  const rules = new Map<string, NeedRule>();
  for (const need of task.needs ?? []) {
    const rule: NeedRule = typeof need === "string"
      ? { task: need, artifacts: false, when: "on_success" }
      : { task: need.task, artifacts: need.artifacts ?? false, when: need.when ?? "on_success" };
    if (!rules.has(rule.task)) rules.set(rule.task, rule);
  }
  for (const name of task.artifactsFrom ?? []) {
    const rule = rules.get(name);
    if (rule) rule.artifacts = true;
    else rules.set(name, { task: name, artifacts: true, when: "on_success" });
  }
  return [...rules.values()];
}

/** The names of the tasks a task needs, each once. */
export function needNames(task: { needs?: readonly Need[]; artifactsFrom?: readonly string[] }): string[] {
  return needRules(task).map((rule) => rule.task);
}
