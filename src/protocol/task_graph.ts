/**
 * A job's tasks as a graph: how many concrete tasks each spec becomes (`count` times its `matrix`), and
 * the `needs` between them, which name tasks of the job and form no cycle.
 */
import type { z } from "zod";
import { MAX_JOB_TASKS } from "./limits.ts";
import { type Need, needName, needNames } from "./needs.ts";

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
