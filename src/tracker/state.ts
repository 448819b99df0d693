/**
 * The tracker's working memory: agents, active jobs and their tasks, the queue, and every state
 * transition a task can make. Each change marks its records for the next group commit; nothing
 * that wakes a waiter runs before the change is durable.
 */
import { jobStateFrom, type TaskResult, type TaskState } from "../protocol/mod.ts";
import type { AgentRecord, AttemptRecord, JobRecord, TaskRecord } from "../store/mod.ts";
import { pickLeastLoaded } from "./placement.ts";
import type { StoreWriter } from "./store_writer.ts";
import { Wakeup } from "./wakeup.ts";

export interface Clock {
  now(): number;
}

export interface JobEntry {
  record: JobRecord;
  tasks: TaskEntry[];
  changed: Wakeup;
}

export interface TaskEntry {
  record: TaskRecord;
  job: JobEntry;
  /** The current attempt while the task is placed on an agent. */
  attempt: AttemptRecord | null;
  /** Set by cancel while the agent stops the process. */
  stopRequested: boolean;
  /** Created on first use: most tasks are never followed. */
  changed: Wakeup | null;
}

export interface AgentEntry {
  record: AgentRecord;
  /** Clock time of the agent's last request. */
  lastSeen: number;
  /** When `lastHeartbeat` was last written to the store. */
  persistedAt: number;
  /** Tasks placed on the agent that have not ended (assigned or running). */
  tasks: Set<TaskEntry>;
  claim: Wakeup;
  claimGeneration: number;
}

const ACTIVE_ON_AGENT: ReadonlySet<TaskState> = new Set(["assigned", "running"]);

export class FabricState {
  readonly agents = new Map<string, AgentEntry>();
  readonly agentsByName = new Map<string, AgentEntry>();
  readonly jobs = new Map<string, JobEntry>();
  readonly tasks = new Map<string, TaskEntry>();
  readonly writer: StoreWriter;
  readonly clock: Clock;
  #queue: TaskEntry[] = [];
  #queueHead = 0;
  #retryQueue: TaskEntry[] = [];
  #scheduleQueued = false;
  #log: (message: string) => void;

  constructor(writer: StoreWriter, clock: Clock, log: (message: string) => void) {
    this.writer = writer;
    this.clock = clock;
    this.#log = log;
  }

  // ---- loading -------------------------------------------------------------------------------

  /** Rebuild memory from the store after a start: active jobs, queue order, placements. */
  load(agents: AgentRecord[], jobs: JobRecord[], tasks: TaskRecord[], attempts: AttemptRecord[]): void {
    const now = this.clock.now();
    for (const record of agents) this.addAgent(record, now);
    for (const record of jobs) this.jobs.set(record.id, { record, tasks: [], changed: new Wakeup() });
    const currentAttempts = new Map(attempts.map((a) => [a.taskId, a]));
    for (const record of tasks) {
      const job = this.jobs.get(record.jobId);
      if (!job) continue;
      const entry = this.#taskEntry(record, job);
      const attempt = currentAttempts.get(record.id);
      const agent = record.agentId ? this.agents.get(record.agentId) : undefined;
      if (ACTIVE_ON_AGENT.has(record.state) && attempt && agent) {
        entry.attempt = attempt;
        agent.tasks.add(entry);
      } else if (ACTIVE_ON_AGENT.has(record.state) || record.state === "lost") {
        record.attempt++;
        this.#requeue(entry, "its agent is unknown to this tracker");
      } else if (record.state === "queued") {
        this.#queue.push(entry);
      }
    }
    for (const job of this.jobs.values()) {
      if (job.record.cancelRequested) this.cancelJob(job);
    }
    this.scheduleSoon();
  }

  addAgent(record: AgentRecord, now: number): AgentEntry {
    const entry: AgentEntry = {
      record,
      lastSeen: now,
      persistedAt: now,
      tasks: new Set(),
      claim: new Wakeup(),
      claimGeneration: 0,
    };
    this.agents.set(record.id, entry);
    this.agentsByName.set(record.name, entry);
    return entry;
  }

  // ---- jobs ----------------------------------------------------------------------------------

  addJob(record: JobRecord, tasks: TaskRecord[]): JobEntry {
    const job: JobEntry = { record, tasks: [], changed: new Wakeup() };
    this.jobs.set(record.id, job);
    this.writer.job(record);
    for (const task of tasks) {
      const entry = this.#taskEntry(task, job);
      this.writer.task(task);
      this.#queue.push(entry);
    }
    this.scheduleSoon();
    return job;
  }

  #taskEntry(record: TaskRecord, job: JobEntry): TaskEntry {
    const entry: TaskEntry = { record, job, attempt: null, stopRequested: false, changed: null };
    job.tasks.push(entry);
    this.tasks.set(record.id, entry);
    return entry;
  }

  /** Cancel what has not ended: queued and undelivered tasks at once, running ones once their agent stops them. */
  cancelJob(job: JobEntry): { cancelled: number; stopping: number } {
    let cancelled = 0;
    let stopping = 0;
    if (!job.record.cancelRequested) {
      job.record.cancelRequested = true;
      this.#touchJob(job);
    }
    for (const task of job.tasks) {
      const state = task.record.state;
      if (state === "queued" || state === "lost" || state === "assigned") {
        // An assigned task may already be on its agent: the next claim tells the agent to stop it.
        const agent = task.attempt ? this.agents.get(task.attempt.agentId) : undefined;
        this.#end(task, "cancelled", { reason: "cancelled" });
        if (agent) this.writer.afterCommit(() => agent.claim.notify());
        cancelled++;
      } else if (state === "running") {
        task.stopRequested = true;
        stopping++;
        const agent = task.attempt ? this.agents.get(task.attempt.agentId) : undefined;
        if (agent) this.writer.afterCommit(() => agent.claim.notify());
      }
    }
    return { cancelled, stopping };
  }

  // ---- task transitions ----------------------------------------------------------------------

  #setState(task: TaskEntry, state: TaskState): void {
    const record = task.record;
    const job = task.job.record;
    if (record.state !== state) {
      job.counts[record.state]--;
      job.counts[state]++;
      record.state = state;
    }
    this.writer.task(record);
    this.#touchJob(task.job);
    const changed = task.changed;
    if (changed) this.writer.afterCommit(() => changed.notify());
  }

  #touchJob(job: JobEntry): void {
    const record = job.record;
    record.version++;
    const next = jobStateFrom(record.counts, record.total, record.cancelRequested);
    if (next !== record.state) {
      record.state = next;
      if (next !== "queued" && next !== "running") {
        record.finishedAt = this.clock.now();
        this.writer.afterCommit(() => this.#evict(job));
        this.#log(`job ${record.id} (${record.name}) ${next}`);
      }
    }
    this.writer.job(record);
    this.writer.afterCommit(() => job.changed.notify());
  }

  /** Ended jobs leave memory once durable; reads then come from the store. */
  #evict(job: JobEntry): void {
    if (this.jobs.get(job.record.id) !== job) return;
    this.jobs.delete(job.record.id);
    for (const task of job.tasks) {
      this.tasks.delete(task.record.id);
      task.changed?.notify();
    }
    job.changed.notify();
  }

  #assign(task: TaskEntry, agent: AgentEntry): void {
    const now = this.clock.now();
    const record = task.record;
    const attempt: AttemptRecord = {
      taskId: record.id,
      attempt: record.attempt,
      agentId: agent.record.id,
      state: "assigned",
      assignedAt: now,
      startedAt: null,
      finishedAt: null,
      exitCode: null,
      signal: null,
      reason: null,
    };
    task.attempt = attempt;
    record.agentId = agent.record.id;
    record.reason = null;
    agent.tasks.add(task);
    this.writer.attempt(attempt);
    this.#setState(task, "assigned");
    this.writer.afterCommit(() => agent.claim.notify());
  }

  markStarted(task: TaskEntry, at: number): void {
    if (task.record.state !== "assigned" || !task.attempt) return;
    task.record.startedAt = at;
    task.attempt.startedAt = at;
    task.attempt.state = "running";
    this.writer.attempt(task.attempt);
    this.#setState(task, "running");
  }

  /** The agent's final word on the current attempt. */
  finish(task: TaskEntry, result: TaskResult, durationMs: number, at: number): void {
    if (!task.attempt) return;
    if (task.record.state === "assigned") this.markStarted(task, at - durationMs);
    let state: TaskState = "failed";
    let exitCode: number | null = null;
    let signal: string | null = null;
    let reason: string | null = null;
    switch (result.kind) {
      case "exited":
        exitCode = result.code;
        state = result.code === 0 ? "succeeded" : "failed";
        break;
      case "signaled":
        signal = result.signal;
        reason = `killed by ${result.signal}`;
        break;
      case "timed_out":
        reason = "timed_out";
        break;
      case "cancelled":
        state = "cancelled";
        reason = "cancelled";
        break;
      case "failed_to_start":
        reason = `failed to start: ${result.message}`;
        break;
    }
    if (task.stopRequested && state !== "succeeded") {
      state = "cancelled";
      reason = "cancelled";
    }
    this.#end(task, state, { exitCode, signal, reason, at, durationMs });
  }

  /** The agent no longer runs the task: queue it again with a new attempt, unless it was being cancelled. */
  lose(task: TaskEntry, reason: string): void {
    if (task.attempt) {
      task.attempt.state = "lost";
      task.attempt.reason = reason;
      task.attempt.finishedAt = this.clock.now();
      this.writer.attempt(task.attempt);
    }
    this.#detach(task);
    if (task.stopRequested || task.job.record.cancelRequested) {
      this.#end(task, "cancelled", { reason: "cancelled" });
      return;
    }
    this.#log(`task ${task.record.id} lost (${reason}); queued again as attempt ${task.record.attempt + 1}`);
    task.record.attempt++;
    this.#requeue(task, reason);
  }

  #requeue(task: TaskEntry, reason: string): void {
    task.record.agentId = null;
    task.record.startedAt = null;
    task.record.reason = `queued again: ${reason}`;
    task.attempt = null;
    this.#setState(task, "queued");
    this.#retryQueue.push(task);
    this.scheduleSoon();
  }

  #end(
    task: TaskEntry,
    state: TaskState,
    fields: {
      exitCode?: number | null;
      signal?: string | null;
      reason?: string | null;
      at?: number;
      durationMs?: number;
    },
  ): void {
    const at = fields.at ?? this.clock.now();
    const record = task.record;
    record.exitCode = fields.exitCode ?? null;
    record.signal = fields.signal ?? null;
    record.reason = fields.reason ?? null;
    record.finishedAt = at;
    record.durationMs = fields.durationMs ?? (record.startedAt === null ? null : Math.max(0, at - record.startedAt));
    const attempt = task.attempt;
    if (attempt && attempt.state !== "lost") {
      attempt.state = state;
      attempt.exitCode = record.exitCode;
      attempt.signal = record.signal;
      attempt.reason = record.reason;
      attempt.finishedAt = at;
      this.writer.attempt(attempt);
    }
    this.#detach(task);
    task.stopRequested = false;
    this.#setState(task, state);
  }

  #detach(task: TaskEntry): void {
    const agentId = task.attempt?.agentId;
    const agent = agentId ? this.agents.get(agentId) : undefined;
    if (agent?.tasks.delete(task)) this.scheduleSoon();
  }

  // ---- scheduling ----------------------------------------------------------------------------

  scheduleSoon(): void {
    if (this.#scheduleQueued) return;
    this.#scheduleQueued = true;
    queueMicrotask(() => {
      this.#scheduleQueued = false;
      this.schedule();
    });
  }

  /** Place queued tasks, oldest first (lost tasks before new ones), on the least loaded ready agents. */
  schedule(): void {
    const candidates = [];
    for (const agent of this.agents.values()) {
      if (agent.record.state === "ready" && agent.tasks.size < agent.record.slots) {
        candidates.push({
          id: agent.record.id,
          name: agent.record.name,
          slots: agent.record.slots,
          used: agent.tasks.size,
          load1: agent.record.load?.load1 ?? 0,
          agent,
        });
      }
    }
    if (candidates.length === 0) return;
    for (let task = this.#nextQueued(); task; task = this.#nextQueued()) {
      const picked = pickLeastLoaded(candidates);
      if (!picked) {
        this.#unshift(task);
        break;
      }
      this.#assign(task, picked.agent);
      picked.used++;
    }
    this.#compactQueue();
  }

  get queuedCount(): number {
    return this.#retryQueue.length + this.#queue.length - this.#queueHead;
  }

  #nextQueued(): TaskEntry | undefined {
    while (this.#retryQueue.length > 0) {
      const task = this.#retryQueue.shift()!;
      if (task.record.state === "queued" && this.tasks.get(task.record.id) === task) return task;
    }
    while (this.#queueHead < this.#queue.length) {
      const task = this.#queue[this.#queueHead++];
      if (task.record.state === "queued" && this.tasks.get(task.record.id) === task) return task;
    }
    return undefined;
  }

  #unshift(task: TaskEntry): void {
    this.#retryQueue.unshift(task);
  }

  #compactQueue(): void {
    if (this.#queueHead > 4096 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  // ---- agents --------------------------------------------------------------------------------

  /** The agent spoke: it is alive. A down agent becomes ready again. */
  seen(agent: AgentEntry): void {
    agent.lastSeen = this.clock.now();
    if (agent.record.state === "down") {
      agent.record.state = "ready";
      this.writer.agent(agent.record);
      this.#log(`agent ${agent.record.name} is back`);
      this.scheduleSoon();
    }
  }

  /** Mark agents silent past `ttlMs` down and lose their tasks. */
  expireAgents(ttlMs: number): string[] {
    const now = this.clock.now();
    const expired: string[] = [];
    for (const agent of this.agents.values()) {
      if (agent.record.state !== "ready" || now - agent.lastSeen <= ttlMs) continue;
      agent.record.state = "down";
      this.writer.agent(agent.record);
      expired.push(agent.record.name);
      this.#log(`agent ${agent.record.name} missed its heartbeats for ${now - agent.lastSeen}ms: down`);
      for (const task of [...agent.tasks]) this.lose(task, `agent ${agent.record.name} stopped heartbeating`);
      agent.claim.notify();
    }
    return expired;
  }
}
