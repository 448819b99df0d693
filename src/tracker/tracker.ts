/**
 * The control plane's operations, one method per API call. Routes parse and authenticate; this
 * class decides. Time and ids come in through options so the logic runs the same in tests.
 */
import type { z } from "zod";
import {
  type AgentLoad,
  type AgentState,
  type Assignment,
  type AttemptRef,
  type CancelJobResponse,
  type ClaimRequest,
  type ClaimResponse,
  FabricError,
  type helloRequestSchema,
  type HelloResponse,
  isTerminalTask,
  type JobSignature,
  type registerAgentRequestSchema,
  type RegisterAgentResponse,
  type ReportResponse,
  type SubmitJobResponse,
  type TaskEvent,
} from "../protocol/mod.ts";
import { type AgentRecord, emptyBatch, type Store } from "../store/mod.ts";
import { assignmentOf } from "./assignment.ts";
import { keepRecentLogs } from "./entries.ts";
import { hashesEqual, hashToken, newId, newToken, splitCredential } from "./auth.ts";
import { expandForAgents, jobRecords, parseSubmission, signedSubmission } from "./job_records.ts";
import { type AgentEntry, type Clock, FabricState } from "./state.ts";
import { StoreWriter } from "./store_writer.ts";

export interface TrackerOptions {
  store: Store;
  clock?: Clock;
  newId?: () => string;
  /** How often agents heartbeat. */
  heartbeatMs?: number;
  /** Silence after which an agent is down and its tasks are lost. */
  ttlMs?: number;
  /** Time between SIGTERM and SIGKILL when a task is stopped. */
  graceMs?: number;
  /** Longest a long poll is held. */
  maxWaitMs?: number;
  /** Randomness for `select: random` (injected so placement is reproducible in tests). */
  random?: () => number;
  log?: (message: string) => void;
}

export type Principal = { kind: "admin" } | { kind: "join" } | { kind: "agent"; agentId: string };

const HEARTBEAT_PERSIST_MS = 30_000;
/** An assignment sent but not acknowledged after this long is sent again. */
const REDELIVER_MS = 5_000;

export class Tracker {
  readonly state: FabricState;
  readonly store: Store;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly maxWaitMs: number;
  #newId: () => string;
  #adminHash = "";
  #joinHash = "";
  #storeHealthy = true;
  #closing = false;
  #lastLivenessCheck: number | null = null;
  #log: (message: string) => void;

  private constructor(options: TrackerOptions) {
    this.store = options.store;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.ttlMs = options.ttlMs ?? this.heartbeatMs * 3;
    this.graceMs = options.graceMs ?? 5000;
    this.maxWaitMs = options.maxWaitMs ?? 30_000;
    this.#newId = options.newId ?? newId;
    this.#log = options.log ?? (() => {});
    const writer = new StoreWriter(options.store, (error) => this.#storeFailed(error));
    this.state = new FabricState({
      writer,
      clock: options.clock ?? { now: () => Date.now() },
      random: options.random,
      log: this.#log,
    });
  }

  /** A tracker with the store's agents and active jobs loaded. */
  static async open(options: TrackerOptions): Promise<Tracker> {
    const tracker = new Tracker(options);
    tracker.#adminHash = (await options.store.getMeta("admin_token_sha256")) ?? "";
    tracker.#joinHash = (await options.store.getMeta("join_token_sha256")) ?? "";
    const agents = await options.store.loadAgents();
    const active = await options.store.loadActiveJobs();
    tracker.state.load(agents, active.jobs, active.tasks, active.attempts);
    await tracker.state.writer.flush();
    return tracker;
  }

  #storeFailed(error: unknown): void {
    if (this.#storeHealthy) this.#log(`store write failed: ${(error as Error).message}`);
    this.#storeHealthy = false;
  }

  /** Resolves when every change so far is durable. */
  async flush(): Promise<void> {
    await this.state.writer.flush();
    if (!this.#storeHealthy) {
      this.#storeHealthy = true;
      this.#log("store writes succeed again");
    }
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Answer every long poll now, so a stopping server is not held up by them. */
  releaseWaiters(): void {
    this.#closing = true;
    for (const agent of this.state.agents.values()) {
      agent.claimGeneration++;
      agent.claim.notify();
    }
    for (const job of this.state.jobs.values()) job.changed.notify();
    for (const task of this.state.tasks.values()) task.changed?.notify();
  }

  /** Release long polls, write what is pending, and close the store. */
  async close(): Promise<void> {
    this.releaseWaiters();
    this.state.stopTimers();
    await this.flush().catch((error) => this.#log(`could not write the last changes: ${error.message}`));
    this.state.writer.stop();
    await this.store.close();
  }

  // ---- credentials ---------------------------------------------------------------------------

  get hasTokens(): boolean {
    return this.#adminHash !== "" && this.#joinHash !== "";
  }

  /** Keep only the hashes of the admin and join tokens. */
  async setTokens(tokens: { admin: string; join: string }): Promise<void> {
    this.#adminHash = hashToken(tokens.admin);
    this.#joinHash = hashToken(tokens.join);
    this.state.writer.meta("admin_token_sha256", this.#adminHash);
    this.state.writer.meta("join_token_sha256", this.#joinHash);
    await this.flush();
  }

  /** One hash per request: an agent's credential (`ID.SECRET`) or else the admin or join token. */
  authenticate(token: string): Principal | null {
    const parts = splitCredential(token);
    const agent = parts ? this.state.agents.get(parts.agentId) : undefined;
    if (parts && agent) {
      return hashesEqual(hashToken(parts.secret), agent.record.credentialHash)
        ? { kind: "agent", agentId: agent.record.id }
        : null;
    }
    const hash = hashToken(token);
    if (this.#adminHash && hashesEqual(hash, this.#adminHash)) return { kind: "admin" };
    if (this.#joinHash && hashesEqual(hash, this.#joinHash)) return { kind: "join" };
    return null;
  }

  // ---- agents --------------------------------------------------------------------------------

  #agent(agentId: string): AgentEntry {
    const agent = this.state.agents.get(agentId);
    if (!agent) throw new FabricError("unauthorized", `Agent "${agentId}" is not registered`);
    return agent;
  }

  async registerAgent(request: RegisterAgentBody): Promise<RegisterAgentResponse> {
    const now = this.state.clock.now();
    const existing = this.state.agentsByName.get(request.name);
    if (existing && existing.record.state === "ready" && now - existing.lastSeen <= this.ttlMs) {
      throw new FabricError(
        "conflict",
        `An agent named "${request.name}" is connected; stop it first or choose another --name`,
      );
    }
    const secret = newToken("fabric-agent");
    const record: AgentRecord = {
      id: existing?.record.id ?? this.#newId(),
      name: request.name,
      labels: request.labels,
      slots: request.slots,
      version: request.version,
      os: request.os,
      arch: request.arch,
      credentialHash: hashToken(secret),
      state: "ready",
      registeredAt: existing?.record.registeredAt ?? now,
      lastHeartbeat: now,
      load: null,
      weight: request.weight ?? existing?.record.weight ?? 1,
      capabilities: request.capabilities,
      resources: request.resources,
      draining: false,
      drainDeadline: null,
    };
    let agent: AgentEntry;
    if (existing) {
      for (const task of [...existing.tasks]) this.state.lose(task, `agent ${request.name} registered again`);
      existing.record = record;
      existing.lastSeen = now;
      agent = existing;
    } else {
      agent = this.state.addAgent(record, now);
    }
    this.state.writer.agent(record);
    await this.flush();
    this.state.scheduleSoon();
    this.#log(`agent ${record.name} registered (${record.slots} slots)`);
    return {
      agentId: record.id,
      name: record.name,
      credential: `${agent.record.id}.${secret}`,
      heartbeatMs: this.heartbeatMs,
      ttlMs: this.ttlMs,
    };
  }

  /** An agent with a credential starts: refresh what it advertises, and settle what it no longer runs. */
  async hello(agentId: string, request: HelloBody): Promise<HelloResponse> {
    const agent = this.#agent(agentId);
    const record = agent.record;
    record.labels = request.labels;
    record.slots = request.slots;
    record.version = request.version;
    record.os = request.os;
    record.arch = request.arch;
    record.capabilities = request.capabilities;
    record.resources = request.resources;
    if (request.weight !== undefined) record.weight = request.weight;
    this.state.seen(agent);
    this.state.writer.agent(record);
    const holding = new Set(request.holding.map(attemptKey));
    for (const task of [...agent.tasks]) {
      if (holding.has(attemptKey({ taskId: task.record.id, attempt: task.record.attempt }))) continue;
      // A new run of the agent has none of what it was sent: assigned work goes to it again.
      task.deliveredAt = null;
      if (task.record.state === "running") this.state.lose(task, `agent ${record.name} restarted without it`);
    }
    await this.flush();
    this.state.scheduleSoon();
    return { agentId: record.id, name: record.name, heartbeatMs: this.heartbeatMs, ttlMs: this.ttlMs };
  }

  async heartbeat(agentId: string, load: AgentLoad) {
    const agent = this.#agent(agentId);
    this.state.seen(agent);
    const now = this.state.clock.now();
    agent.record.load = load;
    agent.record.lastHeartbeat = now;
    if (now - agent.persistedAt >= HEARTBEAT_PERSIST_MS) {
      agent.persistedAt = now;
      this.state.writer.agent(agent.record);
    }
    if (this.state.writer.pending) await this.flush();
    return {
      state: agentState(agent.record),
      heartbeatMs: this.heartbeatMs,
      ttlMs: this.ttlMs,
      drainDeadline: agent.record.draining ? agent.record.drainDeadline : null,
    };
  }

  /** The agent is stopping: it takes no more work, and what was placed on it goes back to the queue. */
  async leave(agentId: string): Promise<void> {
    const agent = this.#agent(agentId);
    for (const task of [...agent.tasks]) this.state.handBack(task, `handed back: agent ${agent.record.name} left`);
    agent.record.draining = false;
    agent.record.drainDeadline = null;
    if (agent.record.state !== "down") {
      agent.record.state = "down";
      this.#log(`agent ${agent.record.name} left`);
    }
    this.state.writer.agent(agent.record);
    this.state.scheduleSoon(); // what waits says why again, now without this agent
    agent.claimGeneration++;
    agent.claim.notify();
    await this.flush();
  }

  #agentByName(name: string): AgentEntry {
    const agent = this.state.agentsByName.get(name);
    if (!agent) throw new FabricError("not_found", `No agent named "${name}"`);
    return agent;
  }

  /**
   * Drain an agent: no new work; what it runs may finish within `graceMs`, then is handed back and
   * runs elsewhere. An agent stopping on SIGTERM drains itself; an operator drains one by name.
   */
  async drain(
    agent: AgentEntry | string,
    graceMs: number,
  ): Promise<{ name: string; running: number; deadline: number }> {
    const entry = typeof agent === "string" ? this.#agentByName(agent) : agent;
    const deadline = this.state.clock.now() + graceMs;
    entry.record.draining = true;
    entry.record.drainDeadline = deadline;
    this.state.writer.agent(entry.record);
    this.state.handBackDrained();
    this.state.scheduleSoon();
    await this.flush();
    this.#log(
      `agent ${entry.record.name} draining: ${entry.tasks.size} task(s) get until ${new Date(deadline).toISOString()}`,
    );
    return { name: entry.record.name, running: entry.tasks.size, deadline };
  }

  async selfDrain(agentId: string, graceMs: number) {
    return await this.drain(this.#agent(agentId), graceMs);
  }

  /** Undo a drain: the agent takes work again. */
  async resume(name: string): Promise<{ name: string }> {
    const agent = this.#agentByName(name);
    agent.record.draining = false;
    agent.record.drainDeadline = null;
    this.state.writer.agent(agent.record);
    this.state.scheduleSoon();
    await this.flush();
    this.#log(`agent ${name} takes work again`);
    return { name };
  }

  /** Change an agent's placement weight, live. */
  async setWeight(name: string, weight: number): Promise<void> {
    const agent = this.#agentByName(name);
    agent.record.weight = weight;
    this.state.writer.agent(agent.record);
    this.state.scheduleSoon();
    await this.flush();
    this.#log(`agent ${name} weight set to ${weight}`);
  }

  /** Long poll: new assignments for the agent, and attempts it holds that it must stop. */
  async claim(agentId: string, request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    const agent = this.#agent(agentId);
    this.state.seen(agent);
    // One open claim per agent: a newer one (after a dropped connection) replaces the older.
    const generation = ++agent.claimGeneration;
    agent.claim.notify();
    const holding = new Set(request.holding.map(attemptKey));
    const deadline = Date.now() + Math.min(request.waitMs, this.maxWaitMs);
    for (;;) {
      // Only a request is a sign of life: a long poll woken up (or timed out) says nothing about the
      // agent, which may have died meanwhile, and it must not bring a down agent back.
      if (generation !== agent.claimGeneration || agent.record.state === "down") return { assignments: [], stop: [] };
      const response = this.#claimResponse(agent, request.holding, holding);
      if (response.assignments.length > 0 || response.stop.length > 0) {
        await this.flush();
        return response;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted || this.#closing) return response;
      await agent.claim.wait(remaining, signal);
    }
  }

  /**
   * Assigned attempts the agent does not hold and has not just been sent. An attempt sent but not
   * acknowledged (started, or named as held) for a while is sent again: the answer may have been lost.
   */
  #deliverable(agent: AgentEntry, holding: Set<string>): Assignment[] {
    const now = this.state.clock.now();
    const assignments: Assignment[] = [];
    for (const task of agent.tasks) {
      if (task.record.state !== "assigned" || task.stopRequested) continue;
      if (holding.has(attemptKey({ taskId: task.record.id, attempt: task.record.attempt }))) continue;
      if (task.deliveredAt !== null && now - task.deliveredAt < REDELIVER_MS) continue;
      task.deliveredAt = now;
      assignments.push(assignmentOf(task, this.graceMs));
    }
    return assignments;
  }

  /** An answer carrying work may have been lost: wake the agent's long poll, which sends the work again. */
  #reofferUnacknowledged(): void {
    const now = this.state.clock.now();
    for (const agent of this.state.agents.values()) {
      if (agent.record.state !== "ready") continue;
      for (const task of agent.tasks) {
        if (task.record.state === "assigned" && task.deliveredAt !== null && now - task.deliveredAt >= REDELIVER_MS) {
          agent.claim.notify();
          break;
        }
      }
    }
  }

  #claimResponse(agent: AgentEntry, holdingList: AttemptRef[], holding: Set<string>): ClaimResponse {
    const assignments = this.#deliverable(agent, holding);
    const stop: AttemptRef[] = [];
    for (const ref of holdingList) {
      const task = this.state.tasks.get(ref.taskId);
      if (task && task.record.attempt === ref.attempt && task.attempt?.agentId === agent.record.id) {
        const ended = task.attempt.state;
        // What the agent finished and reported needs no stop: only what it may still be running.
        if (ended === "succeeded" || ended === "failed") continue;
        if (!isTerminalTask(task.record.state) && !task.stopRequested) continue;
      }
      stop.push(ref);
    }
    return { assignments, stop };
  }

  /** Apply an agent's events in order. Reports for an attempt that is not current are refused. */
  async report(agentId: string, events: TaskEvent[]): Promise<ReportResponse> {
    const agent = this.#agent(agentId);
    this.state.seen(agent);
    const stale: AttemptRef[] = [];
    const staleKeys = new Set<string>();
    for (const event of events) {
      const task = this.state.tasks.get(event.taskId);
      const current = task && task.record.attempt === event.attempt && task.attempt?.agentId === agentId;
      if (!current) {
        const key = attemptKey(event);
        if (!staleKeys.has(key)) {
          staleKeys.add(key);
          stale.push({ taskId: event.taskId, attempt: event.attempt });
        }
        continue;
      }
      if (isTerminalTask(task.record.state)) continue; // a report delivered twice
      switch (event.type) {
        case "started":
          this.state.markStarted(task, event.at);
          break;
        case "output": {
          const rows = event.chunks.map((chunk) => ({
            taskId: task.record.id,
            attempt: event.attempt,
            at: event.at,
            ...chunk,
          }));
          for (const row of rows) this.state.writer.log(row);
          if (task.changed) {
            const changed = task.changed;
            this.state.writer.afterCommit(() => {
              keepRecentLogs(task, rows);
              changed.notify();
            });
          }
          break;
        }
        case "finished":
          this.state.finish(task, event);
          break;
        case "released":
          if (event.how === "lost") this.state.lose(task, `agent ${agent.record.name}: ${event.reason}`);
          else this.state.handBack(task, `handed back by agent ${agent.record.name}: ${event.reason}`);
          break;
      }
    }
    // The slots these reports freed are filled now, and the agent gets its new work in this answer
    // (taken before the commit wakes the agent's long poll, which then has nothing to send).
    this.state.scheduleNow();
    const assignments = this.#deliverable(agent, new Set());
    await this.flush();
    return { stale, assignments };
  }

  /**
   * Mark silent agents down; their tasks are lost and queued again. Called every `intervalMs`; when
   * the call comes much later (the tracker itself was stalled: a blocked store, a paused machine),
   * the stall is not counted as the agents' silence.
   */
  async checkLiveness(intervalMs = 0): Promise<void> {
    const now = this.state.clock.now();
    const stall = this.#lastLivenessCheck === null ? 0 : now - this.#lastLivenessCheck - intervalMs * 2;
    this.#lastLivenessCheck = now;
    if (intervalMs > 0 && stall > 0) {
      for (const agent of this.state.agents.values()) agent.lastSeen += stall;
    }
    this.state.releaseDelayed();
    this.state.handBackDrained();
    this.#reofferUnacknowledged();
    const expired = this.state.expireAgents(this.ttlMs);
    if (expired.length > 0 || this.state.writer.pending) await this.flush();
  }

  // ---- jobs ----------------------------------------------------------------------------------

  async submitJob(
    spec: unknown,
    options: { source?: string | null; files?: Record<string, string>; signature?: JobSignature } = {},
  ): Promise<SubmitJobResponse> {
    const files = options.files ?? {};
    const parsed = parseSubmission(spec, files);
    const signed = options.signature ? await signedSubmission(spec, files, options.signature) : null;
    const { job, tasks } = jobRecords(parsed, {
      jobId: this.#newId(),
      now: this.state.clock.now(),
      source: options.source ?? null,
      files,
      signed,
      instances: expandForAgents(this.state.agents.values(), parsed, signed?.publicKey ?? null),
    });
    // Stored in a write of its own before the scheduler sees it: a submission the store refuses
    // leaves no trace (503), so a client that tries again never ends up with the job twice.
    const batch = emptyBatch();
    batch.newJobs.push(job);
    batch.tasks.push(...tasks);
    try {
      await this.store.write(batch);
    } catch (error) {
      this.#storeFailed(error);
      throw error;
    }
    this.state.addJob(job, tasks);
    this.#log(`job ${job.id} (${job.name}) submitted with ${tasks.length} task(s)`);
    // The placement is written before the answer, not after it: an agent gets an assignment only once
    // it is stored, so this way its claim is answered first and the task starts ~0.3 ms sooner (the
    // submitter's next request, its watch, is not waiting for the answer's few extra microseconds). A
    // store that fails now has the job already; the writer retries the placement by itself.
    await this.flush().catch(() => {});
    return { jobId: job.id, name: job.name, tasks: tasks.length, version: job.version };
  }

  async cancelJob(jobId: string): Promise<CancelJobResponse> {
    const job = this.state.jobs.get(jobId);
    if (!job) {
      await this.flush();
      if (!(await this.store.getJob(jobId))) throw new FabricError("not_found", `No job "${jobId}"`);
      return { jobId, cancelled: 0, stopping: 0 };
    }
    const result = this.state.cancelJob(job);
    await this.flush();
    this.#log(`job ${jobId} cancel requested: ${result.cancelled} cancelled, ${result.stopping} stopping`);
    return { jobId, ...result };
  }
}

type RegisterAgentBody = z.output<typeof registerAgentRequestSchema>;
export type HelloBody = z.output<typeof helloRequestSchema> & { holding: AttemptRef[] };

/** What clients see: down, draining or ready. */
export function agentState(record: AgentRecord): AgentState {
  if (record.state === "down") return "down";
  return record.draining ? "draining" : "ready";
}

export function attemptKey(ref: AttemptRef): string {
  return `${ref.taskId}#${ref.attempt}`;
}
