/**
 * A page of an active job's tasks in one state (`fabric status JOB --state queued --limit 50`), from
 * memory. The walk stops once the page is full, or once every task in that state is found (the job's
 * counts say how many there are): a page of a million-task job must not cost a pass over all of it
 * on the tracker's one loop at every call (issue #17). A rare state (two tasks running among a million
 * queued) may still walk the job to its end: a comparison a task, ~10 ms for a million.
 */
import type { TaskState } from "../protocol/mod.ts";
import type { TaskEntry } from "./entries.ts";

export function tasksInState(
  tasks: readonly TaskEntry[],
  state: TaskState,
  count: number,
  offset: number,
  limit: number,
): TaskEntry[] {
  const page: TaskEntry[] = [];
  const wanted = Math.min(offset + limit, count);
  let seen = 0;
  for (let i = 0; i < tasks.length && seen < wanted; i++) {
    const task = tasks[i];
    if (task.record.state !== state) continue;
    if (seen >= offset) page.push(task);
    seen++;
  }
  return page;
}
