/**
 * The API's calls about agents, from the agents themselves (register, hello, heartbeat, leave, their
 * own drain) and from operators (approve, remove, drain, resume, weight): each applied through the
 * agent lifecycle and answered once durable. Placement is asked to look again where capacity changed.
 */
import {
  type AgentLoad,
  FabricError,
  type HelloResponse,
  type RegisterAgentResponse,
  type RelayedAnswer,
  type RelayedHeartbeats,
  type RelayedHeartbeatsResponse,
} from "../protocol/mod.ts";
import type { AgentLifecycle, HelloBody, RegisterAgentBody } from "./agent_lifecycle.ts";
import { hashToken, newToken } from "./auth.ts";
import type { AgentEntry } from "./entries.ts";
import type { Scheduling } from "./scheduling.ts";
import { agentState } from "./views.ts";

export interface AgentOperationsOptions {
  agents: AgentLifecycle;
  scheduling: () => Scheduling;
  heartbeatMs: number;
  ttlMs: number;
  /** New agents joining with the join token wait for `fabric agents approve NAME`. */
  approveAgents: boolean;
  flush: () => Promise<void>;
  log: (message: string) => void;
}

export class AgentOperations {
  #o: AgentOperationsOptions;

  constructor(options: AgentOperationsOptions) {
    this.#o = options;
  }

  /**
   * A new agent, with a credential of its own. A name that is registered is taken back only with an
   * admin token (`byAdmin`), never with the join token alone (agent_admission.ts).
   */
  async register(
    request: RegisterAgentBody,
    options: { byAdmin?: boolean } = {},
  ): Promise<RegisterAgentResponse> {
    const secret = newToken("fabric-agent");
    const byAdmin = options.byAdmin ?? false;
    const pending = this.#o.approveAgents && !byAdmin;
    const agent = this.#o.agents.register(request, hashToken(secret), { byAdmin, pending });
    await this.#o.flush();
    this.#o.scheduling().soon();
    const { id, name } = agent.record;
    const response = {
      agentId: id,
      name,
      credential: `${id}.${secret}`,
      heartbeatMs: this.#o.heartbeatMs,
      ttlMs: this.#o.ttlMs,
    };
    return pending ? { ...response, pending } : response;
  }

  /** A pending agent (`--approve-agents`) takes work from now on. */
  async approve(name: string): Promise<{ name: string; approved: boolean }> {
    const approved = this.#o.agents.approve(this.#o.agents.byName(name));
    await this.#o.flush();
    return { name, approved };
  }

  /**
   * Revoke an agent's credential: its next request is refused (it stops, saying so), what was placed on
   * it is lost and runs elsewhere, and its name is free for a new agent to join with.
   */
  async remove(name: string): Promise<{ name: string; lost: number }> {
    const lost = this.#o.agents.remove(this.#o.agents.byName(name));
    await this.#o.flush();
    return { name, lost };
  }

  /** An agent with a credential starts: refresh what it advertises, and settle what it no longer runs. */
  async hello(agentId: string, request: HelloBody): Promise<HelloResponse> {
    const agent = this.#o.agents.byId(agentId);
    this.#o.agents.hello(agent, request);
    await this.#o.flush();
    this.#o.scheduling().soon();
    const { id, name } = agent.record;
    const response = { agentId: id, name, heartbeatMs: this.#o.heartbeatMs, ttlMs: this.#o.ttlMs };
    return agent.record.admission === "pending" ? { ...response, pending: true } : response;
  }

  async heartbeat(agentId: string, load: AgentLoad) {
    const agent = this.#o.agents.byId(agentId);
    // Only what the heartbeat changed is waited for: an answer queued behind others' commits (claims,
    // reports) made the leader's own agents wait for PostgreSQL (p50 70 ms at 10,000 agents, the
    // follower's, answered from memory, 40).
    if (this.#o.agents.liveness.heartbeat(agent, load)) await this.#o.flush();
    return {
      state: agentState(agent.record),
      heartbeatMs: this.#o.heartbeatMs,
      ttlMs: this.#o.ttlMs,
      drainDeadline: agent.record.draining ? agent.record.drainDeadline : null,
    };
  }

  /**
   * A follower's agents' heartbeats (heartbeat_relay.ts), each applied as its agent's own heartbeat, as
   * of when it came to the follower; answered with each agent's state, "unknown" for one not known here.
   */
  async relayedHeartbeats(batch: RelayedHeartbeats): Promise<RelayedHeartbeatsResponse> {
    const answers: RelayedAnswer[] = [];
    let changed = false;
    for (const { agentId, load, ageMs } of batch.heartbeats) {
      let agent;
      try {
        agent = this.#o.agents.byId(agentId);
      } catch (error) {
        if (!(error instanceof FabricError && error.code === "unauthorized")) throw error;
        answers.push({ agentId, state: "unknown", drainDeadline: null });
        continue;
      }
      // A removed agent's credential is refused (credentials.ts): to its follower it is not known.
      if (agent.record.admission === "removed") {
        answers.push({ agentId, state: "unknown", drainDeadline: null });
        continue;
      }
      // Never older than the TTL: a batch held up that long says nothing of the agent now.
      if (this.#o.agents.liveness.heartbeat(agent, load, Math.min(ageMs, this.#o.ttlMs))) changed = true;
      const { record } = agent;
      answers.push({
        agentId,
        state: agentState(record),
        drainDeadline: record.draining ? record.drainDeadline : null,
      });
    }
    if (changed) await this.#o.flush();
    return { heartbeatMs: this.#o.heartbeatMs, ttlMs: this.#o.ttlMs, answers };
  }

  /** The agent is stopping: it takes no more work, and what was placed on it goes back to the queue. */
  async leave(agentId: string): Promise<void> {
    this.#o.agents.leave(this.#o.agents.byId(agentId));
    await this.#o.flush();
  }

  /**
   * Drain an agent: no new work; what it runs may finish within `graceMs`, then is handed back and
   * runs elsewhere. An agent stopping on SIGTERM drains itself; an operator drains one by name.
   */
  async drain(
    agent: AgentEntry | string,
    graceMs: number,
  ): Promise<{ name: string; running: number; deadline: number }> {
    const entry = typeof agent === "string" ? this.#o.agents.byName(agent) : agent;
    const deadline = this.#o.agents.drain(entry, graceMs);
    await this.#o.flush();
    this.#o.log(
      `agent ${entry.record.name} draining: ${entry.tasks.size} task(s) get until ${new Date(deadline).toISOString()}`,
    );
    return { name: entry.record.name, running: entry.tasks.size, deadline };
  }

  async selfDrain(agentId: string, graceMs: number) {
    return await this.drain(this.#o.agents.byId(agentId), graceMs);
  }

  /** Undo a drain: the agent takes work again. */
  async resume(name: string): Promise<{ name: string }> {
    this.#o.agents.resume(this.#o.agents.byName(name));
    await this.#o.flush();
    this.#o.log(`agent ${name} takes work again`);
    return { name };
  }

  /** Change an agent's placement weight, live. */
  async setWeight(name: string, weight: number): Promise<void> {
    this.#o.agents.setWeight(this.#o.agents.byName(name), weight);
    await this.#o.flush();
    this.#o.log(`agent ${name} weight set to ${weight}`);
  }
}
