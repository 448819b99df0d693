/**
 * The periodic sweep: backoffs that ended, drains past their deadline, work sent but never
 * acknowledged, agents silent past their TTL, the copies pinned to agents down for good, and the agents'
 * heartbeats due to be written (in one commit). A sweep that comes much later than its interval
 * (the tracker itself was stalled: a blocked store, a paused machine) does not count the stall as the
 * agents' silence.
 */
import type { Clock } from "../protocol/mod.ts";
import type { AgentLifecycle } from "./agent_lifecycle.ts";
import { awaitsRedelivery } from "./claims.ts";
import { failCopiesOfDownAgents } from "./pinned_copies.ts";
import type { FabricState } from "./state.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

export interface LivenessOptions {
  state: FabricState;
  tasks: TaskLifecycle;
  agents: AgentLifecycle;
  clock: Clock;
}

export class Liveness {
  #options: LivenessOptions;
  #lastSweep: number | null = null;

  constructor(options: LivenessOptions) {
    this.#options = options;
  }

  /** One sweep, the previous one `intervalMs` ago (0: not periodic); returns the names of the agents now down. */
  sweep(intervalMs: number): string[] {
    const { state, tasks, agents, clock } = this.#options;
    const now = clock.now();
    const stall = this.#lastSweep === null ? 0 : now - this.#lastSweep - intervalMs * 2;
    this.#lastSweep = now;
    if (intervalMs > 0 && stall > 0) agents.liveness.excuseStall(stall);
    tasks.releaseDue();
    agents.handBackDrained();
    // An answer carrying work may have been lost: wake the agent's long poll, which sends the work again.
    for (const agent of state.agents.values()) {
      if (agent.record.state === "ready" && awaitsRedelivery(agent, now)) agent.claim.notify();
    }
    const expired = agents.liveness.expire();
    failCopiesOfDownAgents(state, tasks, now);
    agents.liveness.writeHeartbeats();
    return expired;
  }
}
