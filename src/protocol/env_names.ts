/**
 * The variables a task gets from its job file's names: `FABRIC_NEEDS_<NAME>` per task it needs and
 * `FABRIC_MATRIX_<KEY>` per matrix key. Two names that become one variable are refused at
 * validation: the task would silently see one of the two.
 */
import type { z } from "zod";
import { type Need, needName } from "./needs.ts";

/** `FABRIC_NEEDS_<NAME>`, `FABRIC_MATRIX_<KEY>`: upper case, anything else than letters and digits as "_". */
export function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

type EnvNamed = { tasks: Array<{ needs?: Need[]; artifactsFrom?: string[]; matrix?: Record<string, unknown> }> };

/** Within each task, no two needs and no two matrix keys become the same variable. */
export function checkEnvNames(job: EnvNamed, ctx: z.RefinementCtx): void {
  job.tasks.forEach((task, i) => {
    const needs = new Map<string, { name: string; where: string }>();
    const named: Array<{ name: string | undefined; key: "needs" | "artifactsFrom"; j: number }> = [
      ...(task.needs ?? []).map((need, j) => ({ name: needName(need), key: "needs" as const, j })),
      ...(task.artifactsFrom ?? []).map((name, j) => ({ name, key: "artifactsFrom" as const, j })),
    ];
    for (const { name: need, key, j } of named) {
      if (need === undefined) continue;
      const suffix = envSuffix(need);
      const first = needs.get(suffix);
      if (!first) needs.set(suffix, { name: need, where: `${key}[${j}]` });
      else if (first.name !== need) {
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, key, j],
          message: `names "${need}", which the task would get as FABRIC_NEEDS_${suffix} like "${first.name}" ` +
            `(${first.where}): rename one of the two tasks`,
        });
      }
    }
    const keys = new Map<string, string>();
    for (const key of Object.keys(task.matrix ?? {})) {
      const suffix = envSuffix(key);
      const first = keys.get(suffix);
      if (first === undefined) keys.set(suffix, key);
      else {
        ctx.addIssue({
          code: "custom",
          path: ["tasks", i, "matrix", key],
          message: `is the variable FABRIC_MATRIX_${suffix}, like the key "${first}": rename one of the two`,
        });
      }
    }
  });
}
