/**
 * Gauges read from the tracker's memory when scraped (jobs, tasks, agents, slots, the queue's oldest
 * task), so that nothing is kept up to date on each change: a scrape walks the active jobs, the
 * templates with work and the agents once.
 */
import type { Clock } from "../../protocol/mod.ts";
import type { StoreSpace } from "../../store/mod.ts";
import type { FabricState } from "../state.ts";
import type { Registry, Series } from "./registry.ts";

const ACTIVE_TASK_STATES = ["queued", "assigned", "running", "lost"] as const;

export interface StateGaugeSources {
  state: FabricState;
  clock: Clock;
  /** The store's size as last read (null before the first scrape read it, or when it could not be read). */
  space: () => StoreSpace | null;
  startedAt: number;
}

export function registerStateGauges(registry: Registry, sources: StateGaugeSources): void {
  const { state, clock } = sources;
  registry.gauge("fabric_jobs", "Jobs that have not ended, by state.", ["state"], () => {
    let queued = 0, running = 0;
    for (const job of state.jobs.values()) {
      if (job.record.state === "queued") queued++;
      else if (job.record.state === "running") running++;
    }
    return [{ labels: ["queued"], metric: queued }, { labels: ["running"], metric: running }];
  });
  registry.gauge(
    "fabric_tasks",
    "Tasks that have not ended, by state (queued: waiting for a slot, its needs or a retry's backoff).",
    ["state"],
    () => {
      const totals = { queued: 0, assigned: 0, running: 0, lost: 0 };
      for (const job of state.jobs.values()) {
        for (const name of ACTIVE_TASK_STATES) totals[name] += job.record.counts[name];
      }
      return ACTIVE_TASK_STATES.map((name): Series<number> => ({ labels: [name], metric: totals[name] }));
    },
  );
  registry.gauge(
    "fabric_task_queue_oldest_age_seconds",
    "Age (since its submit) of the oldest task ready to run but not placed yet; 0 when none waits.",
    [],
    () => {
      let oldest = Infinity;
      for (const template of state.templates) {
        const head = template.ready.peek();
        if (head && head.record.createdAt < oldest) oldest = head.record.createdAt;
      }
      return [{ labels: [], metric: oldest === Infinity ? 0 : Math.max(0, clock.now() - oldest) / 1000 }];
    },
  );
  registry.gauge(
    "fabric_agents",
    "Agents by state (draining: up, taking no new work; down: silent past the TTL, or left).",
    ["state"],
    () => {
      let ready = 0, draining = 0, down = 0;
      for (const agent of state.agents.values()) {
        if (agent.record.state === "down") down++;
        else if (agent.record.draining) draining++;
        else ready++;
      }
      return [
        { labels: ["ready"], metric: ready },
        { labels: ["draining"], metric: draining },
        { labels: ["down"], metric: down },
      ];
    },
  );
  registry.gauge("fabric_agent_slots", "Slots of the agents that are up (ready or draining).", [], () => {
    let slots = 0;
    for (const agent of state.agents.values()) if (agent.record.state !== "down") slots += agent.record.slots;
    return [{ labels: [], metric: slots }];
  });
  registry.gauge("fabric_agent_slots_busy", "Tasks placed on agents (assigned or running).", [], () => {
    let busy = 0;
    for (const agent of state.agents.values()) busy += agent.tasks.size;
    return [{ labels: [], metric: busy }];
  });
  registry.gauge("fabric_store_size_bytes", "The store's size (free space included).", [], () => {
    const space = sources.space();
    return space ? [{ labels: [], metric: space.bytes }] : [];
  });
  registry.gauge(
    "fabric_store_free_bytes",
    "Space in the store that holds nothing (deleted jobs' rows), reused by new rows (SQLite only).",
    [],
    () => {
      const free = sources.space()?.freeBytes ?? null;
      return free === null ? [] : [{ labels: [], metric: free }];
    },
  );
  registry.gauge("process_start_time_seconds", "When the tracker started, in seconds since the epoch.", [], () => [
    { labels: [], metric: sources.startedAt / 1000 },
  ]);
  registry.gauge("process_resident_memory_bytes", "The tracker's resident memory.", [], () => [
    { labels: [], metric: Deno.memoryUsage().rss },
  ]);
}
