/**
 * Whether an agent is alive: seen on each request and heartbeat (the heartbeats written now and then,
 * not each time), down when silent past the TTL (its tasks lost, or waiting for it as long as they
 * allow), and ready again, with the tasks it still had, when it speaks again. The rest of an agent's
 * states: agent_lifecycle.ts.
 */
import type { AgentLoad, Clock } from "../protocol/mod.ts";
import type { AgentEntry } from "./entries.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

/**
 * How often an unchanged agent's last heartbeat is written (it is kept in memory in between). The writes
 * due are made by the periodic sweep (writeHeartbeats), all in one commit: written as each heartbeat came,
 * 10,000 agents made 333 writes a second, each its own commit at a leader whose event loop turned often.
 */
const HEARTBEAT_PERSIST_MS = 30_000;

export interface AgentLivenessOptions {
  state: FabricState;
  tasks: TaskLifecycle;
  writer: StoreWriter;
  clock: Clock;
  log: (message: string) => void;
  /** Ask for a scheduling pass soon: an agent can take work, or no longer can. */
  schedule: () => void;
  /** Silence after which an agent is down. */
  ttlMs: number;
  metrics: TrackerMetrics;
}

export class AgentLiveness {
  /** Agents whose last heartbeat is due to be written (writeHeartbeats). */
  #heartbeatsDue = new Set<AgentEntry>();
  #state: FabricState;
  #tasks: TaskLifecycle;
  #writer: StoreWriter;
  #clock: Clock;
  #log: (message: string) => void;
  #schedule: () => void;
  #ttlMs: number;
  #metrics: TrackerMetrics;

  constructor(options: AgentLivenessOptions) {
    this.#metrics = options.metrics;
    this.#state = options.state;
    this.#tasks = options.tasks;
    this.#writer = options.writer;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#schedule = options.schedule;
    this.#ttlMs = options.ttlMs;
  }

  /**
   * `ageMs`: how long ago the heartbeat came (one a follower relayed, heartbeat_relay.ts). True when it
   * changed what the store holds (a down agent is back): its answer waits for that commit, and only then.
   */
  heartbeat(agent: AgentEntry, load: AgentLoad, ageMs = 0): boolean {
    const now = this.#clock.now();
    // An older heartbeat than one already counted (two followers, a batch sent late) tells nothing new.
    if (ageMs > 0 && now - ageMs <= agent.lastSeen) return false;
    const back = this.seen(agent, now - ageMs);
    agent.record.load = load;
    agent.record.lastHeartbeat = now;
    if (now - agent.persistedAt >= HEARTBEAT_PERSIST_MS) this.#heartbeatsDue.add(agent);
    return back;
  }

  /** The heartbeats due to be written (see HEARTBEAT_PERSIST_MS) are marked for the next commit, together. */
  writeHeartbeats(): void {
    if (this.#heartbeatsDue.size === 0) return;
    const now = this.#clock.now();
    for (const agent of this.#heartbeatsDue) {
      // One no longer known here (registered again under a new entry) has nothing of its own to write.
      if (this.#state.agents.get(agent.record.id) !== agent) continue;
      agent.persistedAt = now;
      this.#writer.agent(agent.record);
    }
    this.#heartbeatsDue.clear();
  }

  /**
   * The agent spoke (at `at`, now unless a follower relayed it): it is alive. A down agent becomes ready
   * again and keeps the tasks it still had (and true is returned: that change is marked for the store).
   */
  seen(agent: AgentEntry, at = this.#clock.now()): boolean {
    agent.lastSeen = at;
    if (agent.record.state !== "down") return false;
    agent.record.state = "ready";
    this.#writer.agent(agent.record);
    this.#log(`agent ${agent.record.name} is back`);
    // Back within its tasks' lostAfter: their attempts go on where they were.
    for (const task of agent.tasks) this.#tasks.agentBack(task);
    agent.claim.notify();
    this.#schedule();
    return true;
  }

  /** The tracker itself stalled for `ms` (a blocked store, a paused machine): that was not the agents' silence. */
  excuseStall(ms: number): void {
    for (const agent of this.#state.agents.values()) agent.lastSeen += ms;
  }

  /**
   * Agents silent past the TTL are down. Their tasks are lost and queued again, except those with a
   * longer `lostAfter`: they wait, as `lost`, for their agent until that much silence has passed.
   */
  expire(): string[] {
    const now = this.#clock.now();
    const expired: string[] = [];
    for (const agent of this.#state.agents.values()) {
      const silence = now - agent.lastSeen;
      const name = agent.record.name;
      if (agent.record.state === "ready" && silence > this.#ttlMs) {
        agent.record.state = "down";
        this.#writer.agent(agent.record);
        this.#metrics.heartbeatsMissed.inc();
        expired.push(name);
        this.#log(`agent ${name} missed its heartbeats for ${silence}ms: down`);
        agent.claim.notify();
        this.#schedule();
      }
      if (agent.record.state !== "down") continue;
      for (const task of [...agent.tasks]) {
        const patience = task.template.effective.lostAfterMs ?? 0;
        if (silence > patience) {
          this.#tasks.lose(task, `agent ${name} stopped heartbeating`);
        } else if (task.record.state !== "lost") {
          const until = new Date(agent.lastSeen + patience).toISOString();
          this.#tasks.awaitAgent(
            task,
            `agent ${name} is unreachable; the task runs elsewhere after ${until} unless the agent is back`,
          );
        }
      }
    }
    return expired;
  }
}
