/**
 * What a task placed on an agent holds while it is there: a place in the agent's tasks, the resources
 * it asked for, and a count among its template's and its job's active tasks (concurrency limits).
 */
import type { AgentEntry, TaskEntry } from "./entries.ts";

export function attach(task: TaskEntry, agent: AgentEntry): void {
  agent.tasks.add(task);
  addResources(agent, task, 1);
  task.template.active++;
  task.job.active++;
}

/** Give back what `task` held on `agent`; false when it held nothing there. */
export function detach(task: TaskEntry, agent: AgentEntry | undefined): boolean {
  if (!agent?.tasks.delete(task)) return false;
  addResources(agent, task, -1);
  task.template.active--;
  task.job.active--;
  return true;
}

function addResources(agent: AgentEntry, task: TaskEntry, sign: 1 | -1): void {
  const add = task.template.effective.resources;
  agent.allocated.cpu += sign * add.cpu;
  agent.allocated.memory += sign * add.memory;
  agent.allocated.disk += sign * add.disk;
}
