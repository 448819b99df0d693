/**
 * Copies for one agent (`select: all`) whose agent is down past their `lostAfter` fail: they run
 * nowhere else, and waiting for an agent that may never come back would hold the job (and
 * `fabric run --all`) open for ever. Part of the liveness sweep: one pass over the `select: all`
 * templates of active jobs, and only while some agent is down.
 */
import type { AgentEntry } from "./entries.ts";
import type { FabricState } from "./state.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

export function failCopiesOfDownAgents(state: FabricState, tasks: TaskLifecycle, now: number): void {
  const down = new Map<string, AgentEntry>();
  for (const agent of state.agents.values()) {
    if (agent.record.state === "down") down.set(agent.record.name, agent);
  }
  if (down.size === 0) return;
  for (const job of state.jobs.values()) {
    for (const template of job.templates.values()) {
      if (template.effective.select !== "all") continue;
      const patience = template.effective.lostAfterMs ?? 0;
      for (const task of template.instances) {
        const agent = task.record.pinnedAgent === null ? undefined : down.get(task.record.pinnedAgent);
        if (!agent || task.record.state !== "queued" || now - agent.lastSeen <= patience) continue;
        tasks.failPinned(task, `agent ${agent.record.name} is down, and this copy runs only there (select: all)`);
      }
    }
  }
}
