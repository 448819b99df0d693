/**
 * Every state an agent goes through: registered, ready (seen on each request), down when silent past
 * the TTL (its tasks lost, or waiting for it as long as they allow), draining, and gone when it
 * leaves. What an agent's change does to its tasks goes through the task lifecycle.
 */
import type { z } from "zod";
import {
  type AgentLoad,
  attemptKey,
  type AttemptRef,
  type Clock,
  FabricError,
  type helloRequestSchema,
  type registerAgentRequestSchema,
} from "../protocol/mod.ts";
import type { AgentRecord } from "../store/mod.ts";
import { admit } from "./agent_admission.ts";
import type { AgentEntry } from "./entries.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

export type RegisterAgentBody = z.output<typeof registerAgentRequestSchema>;
export type HelloBody = z.output<typeof helloRequestSchema> & { holding: AttemptRef[] };

/**
 * How often an unchanged agent's last heartbeat is written (it is kept in memory in between). The writes
 * due are made by the periodic sweep (writeHeartbeats), all in one commit: written as each heartbeat came,
 * 10,000 agents made 333 writes a second, each its own commit at a leader whose event loop turned often.
 */
const HEARTBEAT_PERSIST_MS = 30_000;

export interface AgentLifecycleOptions {
  state: FabricState;
  tasks: TaskLifecycle;
  writer: StoreWriter;
  clock: Clock;
  newId: () => string;
  log: (message: string) => void;
  /** Ask for a scheduling pass soon: an agent can take work, or no longer can. */
  schedule: () => void;
  /** Silence after which an agent is down. */
  ttlMs: number;
  metrics: TrackerMetrics;
}

export class AgentLifecycle {
  /** Agents whose last heartbeat is due to be written (writeHeartbeats). */
  #heartbeatsDue = new Set<AgentEntry>();
  #state: FabricState;
  #tasks: TaskLifecycle;
  #writer: StoreWriter;
  #clock: Clock;
  #newId: () => string;
  #log: (message: string) => void;
  #schedule: () => void;
  #ttlMs: number;
  #metrics: TrackerMetrics;

  constructor(options: AgentLifecycleOptions) {
    this.#metrics = options.metrics;
    this.#state = options.state;
    this.#tasks = options.tasks;
    this.#writer = options.writer;
    this.#clock = options.clock;
    this.#newId = options.newId;
    this.#log = options.log;
    this.#schedule = options.schedule;
    this.#ttlMs = options.ttlMs;
  }

  /** The agent a credential names. */
  byId(agentId: string): AgentEntry {
    const agent = this.#state.agents.get(agentId);
    if (!agent) throw new FabricError("unauthorized", `Agent "${agentId}" is not registered`);
    return agent;
  }

  /** The agent an operator names (a removed one is no longer there). */
  byName(name: string): AgentEntry {
    const agent = this.#state.agentsByName.get(name);
    if (!agent || agent.record.admission === "removed") throw new FabricError("not_found", `No agent named "${name}"`);
    return agent;
  }

  /**
   * A new agent, or one taking a name back (with a new credential, whose hash is given): what the
   * name's previous run still had is lost. Who may take which name: agent_admission.ts. A `pending`
   * agent waits for `approve` before it gets work.
   */
  register(
    request: RegisterAgentBody,
    credentialHash: string,
    options: { byAdmin: boolean; pending: boolean },
  ): AgentEntry {
    const now = this.#clock.now();
    const found = this.#state.agentsByName.get(request.name);
    const existing = admit(request.name, found, { byAdmin: options.byAdmin, now, ttlMs: this.#ttlMs });
    const record: AgentRecord = {
      id: found?.record.id ?? this.#newId(),
      name: request.name,
      labels: request.labels,
      slots: request.slots,
      version: request.version,
      os: request.os,
      arch: request.arch,
      credentialHash,
      state: "ready",
      registeredAt: existing?.record.registeredAt ?? now,
      lastHeartbeat: now,
      load: null,
      weight: request.weight ?? existing?.record.weight ?? 1,
      capabilities: request.capabilities,
      resources: request.resources,
      draining: false,
      drainDeadline: null,
      admission: options.pending ? "pending" : "approved",
    };
    let agent: AgentEntry;
    if (found) {
      for (const task of [...found.tasks]) this.#tasks.lose(task, `agent ${request.name} registered again`);
      found.record = record;
      found.lastSeen = now;
      agent = found;
    } else {
      agent = this.#state.addAgent(record, now);
    }
    this.#writer.agent(record);
    this.#log(
      `agent ${record.name} registered (${record.slots} slots)${options.pending ? ", waiting for approval" : ""}`,
    );
    return agent;
  }

  /** A pending agent takes work from now on; false when it was approved already. */
  approve(agent: AgentEntry): boolean {
    if (agent.record.admission === "approved") return false;
    agent.record.admission = "approved";
    this.#writer.agent(agent.record);
    this.#schedule();
    this.#log(`agent ${agent.record.name} approved`);
    return true;
  }

  /**
   * Revoke the agent's credential: its next request is refused, what was placed on it is lost and runs
   * elsewhere, and its name is free. Returns how many tasks it had.
   */
  remove(agent: AgentEntry): number {
    const lost = agent.tasks.size;
    for (const task of [...agent.tasks]) this.#tasks.lose(task, `agent ${agent.record.name} was removed`);
    agent.record.admission = "removed";
    agent.record.state = "down";
    agent.record.draining = false;
    agent.record.drainDeadline = null;
    this.#writer.agent(agent.record);
    this.#schedule();
    this.endClaim(agent);
    this.#log(`agent ${agent.record.name} removed: its credential is revoked, ${lost} task(s) run elsewhere`);
    return lost;
  }

  /** An agent with a credential starts: refresh what it advertises, and settle what it no longer runs. */
  hello(agent: AgentEntry, request: HelloBody): void {
    const record = agent.record;
    record.labels = request.labels;
    record.slots = request.slots;
    record.version = request.version;
    record.os = request.os;
    record.arch = request.arch;
    record.capabilities = request.capabilities;
    record.resources = request.resources;
    if (request.weight !== undefined) record.weight = request.weight;
    if (request.endOwnDrain && record.draining) {
      record.draining = false;
      record.drainDeadline = null;
      this.#log(`agent ${record.name} started again after draining itself to stop: it takes work again`);
      this.#schedule();
    }
    this.seen(agent);
    this.#writer.agent(record);
    const holding = new Set(request.holding.map(attemptKey));
    for (const task of [...agent.tasks]) {
      if (holding.has(attemptKey({ taskId: task.record.id, attempt: task.record.attempt }))) continue;
      // A new run of the agent has none of what it was sent: assigned work goes to it again.
      task.deliveredAt = null;
      if (task.record.state === "running") this.#tasks.lose(task, `agent ${record.name} restarted without it`);
    }
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

  /**
   * Drain an agent: no new work; what it runs may finish within `graceMs`, then is handed back and
   * runs elsewhere. Returns the deadline.
   */
  drain(agent: AgentEntry, graceMs: number): number {
    const deadline = this.#clock.now() + graceMs;
    agent.record.draining = true;
    agent.record.drainDeadline = deadline;
    this.#writer.agent(agent.record);
    this.handBackDrained();
    this.#schedule();
    return deadline;
  }

  /** Draining agents past their deadline hand back what they still run: it is queued again elsewhere. */
  handBackDrained(): void {
    const now = this.#clock.now();
    for (const agent of this.#state.agents.values()) {
      const deadline = agent.record.drainDeadline;
      if (!agent.record.draining || deadline === null || now < deadline || agent.tasks.size === 0) continue;
      for (const task of [...agent.tasks]) {
        this.#tasks.handBack(task, `handed back: agent ${agent.record.name} drained`);
      }
      agent.claim.notify();
    }
  }

  /** Undo a drain: the agent takes work again. */
  resume(agent: AgentEntry): void {
    agent.record.draining = false;
    agent.record.drainDeadline = null;
    this.#writer.agent(agent.record);
    this.#schedule();
  }

  /** Change an agent's placement weight, live. */
  setWeight(agent: AgentEntry, weight: number): void {
    agent.record.weight = weight;
    this.#writer.agent(agent.record);
    this.#schedule();
  }

  /** The agent is stopping: it takes no more work, and what was placed on it goes back to the queue. */
  leave(agent: AgentEntry): void {
    for (const task of [...agent.tasks]) this.#tasks.handBack(task, `handed back: agent ${agent.record.name} left`);
    agent.record.draining = false;
    agent.record.drainDeadline = null;
    if (agent.record.state !== "down") {
      agent.record.state = "down";
      this.#log(`agent ${agent.record.name} left`);
    }
    this.#writer.agent(agent.record);
    this.#schedule(); // what waits says why again, now without this agent
    this.endClaim(agent);
  }

  /** Answer the agent's open long poll now, with nothing. */
  endClaim(agent: AgentEntry): void {
    agent.claimGeneration++;
    agent.claim.notify();
  }
}
