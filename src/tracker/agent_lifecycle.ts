/**
 * Every state an agent goes through: registered, ready (seen on each request), down when silent past
 * the TTL (its tasks lost, or waiting for it as long as they allow: agent_liveness.ts), draining, and
 * gone when it leaves. What an agent's change does to its tasks goes through the task lifecycle.
 */
import type { z } from "zod";
import {
  attemptKey,
  type AttemptRef,
  type Clock,
  FabricError,
  type helloRequestSchema,
  type registerAgentRequestSchema,
} from "../protocol/mod.ts";
import type { AgentRecord } from "../store/mod.ts";
import { admit } from "./agent_admission.ts";
import { AgentLiveness, type AgentLivenessOptions } from "./agent_liveness.ts";
import type { AgentEntry } from "./entries.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";

export type RegisterAgentBody = z.output<typeof registerAgentRequestSchema>;
export type HelloBody = z.output<typeof helloRequestSchema> & { holding: AttemptRef[] };

export interface AgentLifecycleOptions extends AgentLivenessOptions {
  newId: () => string;
}

export class AgentLifecycle {
  /** Seen, heartbeats, down when silent, back (agent_liveness.ts). */
  readonly liveness: AgentLiveness;
  #state: FabricState;
  #tasks: TaskLifecycle;
  #writer: StoreWriter;
  #clock: Clock;
  #newId: () => string;
  #log: (message: string) => void;
  #schedule: () => void;
  #ttlMs: number;

  constructor(options: AgentLifecycleOptions) {
    this.liveness = new AgentLiveness(options);
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
    this.liveness.seen(agent);
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
