/**
 * The tracker's working memory: agents, active jobs with their task templates and tasks, and every
 * state transition a task can make (placement, start, finish, retry, loss, skip, cancel). Each
 * change marks its records for the next group commit; nothing that wakes a waiter runs before the
 * change is durable.
 */
import {
  type AgentResources,
  backoffDelay,
  formatDuration,
  jobStateFrom,
  type TaskResult,
  type TaskState,
} from "../protocol/mod.ts";
import type { AgentRecord, AttemptRecord, JobRecord, TaskRecord } from "../store/mod.ts";
import {
  type AgentEntry,
  type Clock,
  type FinishReport,
  type JobEntry,
  newJobEntry,
  type TaskEntry,
  type TemplateEntry,
} from "./entries.ts";
import { Scheduling } from "./scheduling.ts";
import type { StoreWriter } from "./store_writer.ts";
import { Wakeup } from "./wakeup.ts";

export type { AgentEntry, Clock, FinishReport, JobEntry, TaskEntry, TemplateEntry } from "./entries.ts";

const ACTIVE_ON_AGENT: ReadonlySet<TaskState> = new Set(["assigned", "running"]);
const FAILED_STATES: ReadonlySet<TaskState> = new Set(["failed", "cancelled", "skipped"]);

export class FabricState {
  readonly agents = new Map<string, AgentEntry>();
  readonly agentsByName = new Map<string, AgentEntry>();
  readonly jobs = new Map<string, JobEntry>();
  readonly tasks = new Map<string, TaskEntry>();
  readonly writer: StoreWriter;
  readonly clock: Clock;
  readonly random: () => number;
  /** Templates with work, in the order they are served: priority, then job age, then file order. */
  templates: TemplateEntry[] = [];
  #delayed = new Set<TaskEntry>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDue = Infinity;
  #jobSeq = 0;
  #scheduling: Scheduling;
  #log: (message: string) => void;

  constructor(options: { writer: StoreWriter; clock: Clock; random?: () => number; log: (message: string) => void }) {
    this.writer = options.writer;
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
    this.#log = options.log;
    this.#scheduling = new Scheduling({
      templates: () => this.templates,
      agents: () => this.agents.values(),
      random: this.random,
      assign: (task, agent) => this.assign(task, agent),
    });
  }

  // ---- loading -------------------------------------------------------------------------------

  /** Rebuild memory from the store after a start: active jobs, dependencies, queues, placements. */
  load(agents: AgentRecord[], jobs: JobRecord[], tasks: TaskRecord[], attempts: AttemptRecord[]): void {
    const now = this.clock.now();
    for (const record of agents) this.addAgent(record, now);
    const byJob = new Map<string, TaskRecord[]>();
    for (const task of tasks) {
      const list = byJob.get(task.jobId) ?? [];
      list.push(task);
      byJob.set(task.jobId, list);
    }
    const currentAttempts = new Map(attempts.map((a) => [a.taskId, a]));
    for (const record of jobs) {
      const job = this.#addJobEntry(record, byJob.get(record.id) ?? []);
      for (const task of job.tasks) {
        const state = task.record.state;
        const attempt = currentAttempts.get(task.record.id);
        const agent = task.record.agentId ? this.agents.get(task.record.agentId) : undefined;
        if (ACTIVE_ON_AGENT.has(state) && attempt && agent) {
          task.attempt = attempt;
          this.#attach(task, agent);
        } else if (ACTIVE_ON_AGENT.has(state) || state === "lost") {
          task.record.attempt++;
          this.#requeue(task, "its agent is unknown to this tracker", 0);
        } else if (state === "queued") {
          this.#enqueue(task);
        }
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
      allocated: { cpu: 0, memory: 0, disk: 0 },
      claim: new Wakeup(),
      claimGeneration: 0,
    };
    this.agents.set(record.id, entry);
    this.agentsByName.set(record.name, entry);
    return entry;
  }

  // ---- jobs ----------------------------------------------------------------------------------

  /**
   * A new job, already stored: those of its tasks with nothing to wait for are queued and placed at
   * once, so that the version its submitter watches from already counts the placement (the watch then
   * waits for the tasks' progress, not for their being placed).
   */
  addJob(record: JobRecord, tasks: TaskRecord[]): JobEntry {
    const job = this.#addJobEntry(record, tasks);
    for (const task of job.tasks) this.#enqueue(task);
    this.scheduleNow();
    return job;
  }

  #addJobEntry(record: JobRecord, tasks: TaskRecord[]): JobEntry {
    const job = newJobEntry(record, tasks, this.#jobSeq++);
    for (const task of job.tasks) this.tasks.set(task.record.id, task);
    this.jobs.set(record.id, job);
    this.templates.push(...job.templates.values());
    this.#sortTemplates();
    return job;
  }

  #sortTemplates(): void {
    this.templates.sort((a, b) =>
      b.effective.priority - a.effective.priority || a.job.record.createdAt - b.job.record.createdAt ||
      a.job.seq - b.job.seq || a.order - b.order
    );
  }

  /** A queued task goes to its template's ready queue, unless it waits for a backoff or its dependencies. */
  #enqueue(task: TaskEntry, front = false): void {
    if (task.record.retryAt !== null) {
      this.#delayed.add(task);
      this.#armRetryTimer(task.record.retryAt);
      return;
    }
    if (task.template.waitingOn.size > 0) return;
    if (front) task.template.ready.pushFront(task);
    else task.template.ready.push(task);
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
      } else if (state === "running" && !task.stopRequested) {
        task.stopRequested = true;
        stopping++;
        const agent = task.attempt ? this.agents.get(task.attempt.agentId) : undefined;
        if (agent) this.writer.afterCommit(() => agent.claim.notify());
      } else if (state === "running") {
        stopping++;
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
    this.templates = this.templates.filter((t) => t.job !== job);
    for (const task of job.tasks) {
      this.tasks.delete(task.record.id);
      this.#delayed.delete(task);
      task.changed?.notify();
    }
    job.changed.notify();
  }

  /** Place `task` on `agent` as its current attempt (called by the scheduler). */
  assign(task: TaskEntry, agent: AgentEntry): void {
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
    task.deliveredAt = null;
    record.agentId = agent.record.id;
    record.reason = null;
    this.#attach(task, agent);
    this.writer.attempt(attempt);
    this.#setState(task, "assigned");
    this.writer.afterCommit(() => agent.claim.notify());
  }

  #attach(task: TaskEntry, agent: AgentEntry): void {
    agent.tasks.add(task);
    addResources(agent.allocated, task.template.effective.resources, 1);
    task.template.active++;
    task.job.active++;
  }

  #detach(task: TaskEntry): void {
    const agentId = task.attempt?.agentId;
    const agent = agentId ? this.agents.get(agentId) : undefined;
    if (agent?.tasks.delete(task)) {
      addResources(agent.allocated, task.template.effective.resources, -1);
      task.template.active--;
      task.job.active--;
      this.scheduleSoon();
    }
  }

  markStarted(task: TaskEntry, at: number): void {
    if (task.record.state !== "assigned" || !task.attempt) return;
    task.record.startedAt = at;
    task.attempt.startedAt = at;
    task.attempt.state = "running";
    this.writer.attempt(task.attempt);
    this.#setState(task, "running");
  }

  /** The agent's final word on the current attempt: the task ends, or is retried after its backoff. */
  finish(task: TaskEntry, report: FinishReport): void {
    if (!task.attempt) return;
    if (task.record.state === "assigned") this.markStarted(task, report.at - report.durationMs);
    const template = task.template;
    template.runtimeEma = template.runtimeEma === null
      ? report.durationMs
      : 0.8 * template.runtimeEma + 0.2 * report.durationMs;
    template.runs++;
    const outcome = outcomeOf(report.result);
    let { state, reason } = outcome;
    if (state === "succeeded" && report.outputError !== undefined) {
      state = "failed";
      reason = report.outputError;
    } else if (state === "succeeded" && report.output !== undefined && !isJson(report.output)) {
      state = "failed";
      reason = "$FABRIC_OUTPUT does not hold valid JSON";
    }
    if (task.stopRequested && state !== "succeeded") {
      state = "cancelled";
      reason = "cancelled";
    }
    task.record.outputTruncated = report.outputTruncated ?? false;
    if (state === "succeeded" && report.output !== undefined) task.record.output = report.output;
    const fields = {
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      reason,
      at: report.at,
      durationMs: report.durationMs,
    };
    if (state === "failed" && !task.job.record.cancelRequested) {
      task.record.failures++;
      const { retries, backoff } = task.template.effective;
      if (task.record.failures <= retries) {
        const delay = backoffDelay(backoff, task.record.failures);
        this.#closeAttempt(task, "failed", fields);
        const why = reason ?? `exit code ${outcome.exitCode}`;
        this.#log(
          `task ${task.record.id} failed (${why}); retry ${task.record.failures} of ${retries} in ${
            formatDuration(delay)
          }`,
        );
        task.record.attempt++;
        this.#requeue(task, `retry ${task.record.failures} of ${retries} after ${why}`, delay);
        return;
      }
    }
    this.#end(task, state, fields);
  }

  /** The agent no longer runs the task: queue it again with a new attempt, within its lost budget. */
  lose(task: TaskEntry, reason: string): void {
    if (this.#abandonAttempt(task, reason)) return;
    task.record.losses++;
    const budget = task.template.effective.lostRetries;
    if (task.record.losses > budget) {
      this.#end(task, "failed", { reason: `lost ${task.record.losses} times (last: ${reason})` });
      return;
    }
    this.#log(`task ${task.record.id} lost (${reason}); queued again as attempt ${task.record.attempt + 1}`);
    task.record.attempt++;
    this.#requeue(task, `queued again: ${reason}`, 0);
  }

  #requeue(task: TaskEntry, reason: string, delayMs: number): void {
    this.#detach(task);
    task.record.agentId = null;
    task.record.startedAt = null;
    task.record.reason = reason;
    task.record.retryAt = delayMs > 0 ? this.clock.now() + delayMs : null;
    task.attempt = null;
    this.#setState(task, "queued");
    this.#enqueue(task, true);
    this.scheduleSoon();
  }

  /** Tasks whose backoff has passed are queued again; the timer is set for the next one. */
  releaseDelayed(): void {
    const now = this.clock.now();
    let next = Infinity;
    for (const task of this.#delayed) {
      if (task.record.retryAt !== null && task.record.retryAt > now) {
        next = Math.min(next, task.record.retryAt);
        continue;
      }
      this.#delayed.delete(task);
      if (task.record.state !== "queued") continue;
      task.record.retryAt = null;
      this.writer.task(task.record);
      this.#enqueue(task, true);
      this.scheduleSoon();
    }
    if (next < Infinity) this.#armRetryTimer(next);
  }

  /** One timer, for the earliest backoff that ends. */
  #armRetryTimer(due: number): void {
    if (this.#retryTimer !== undefined && due >= this.#retryDue) return;
    clearTimeout(this.#retryTimer);
    this.#retryDue = due;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryDue = Infinity;
      this.releaseDelayed();
    }, Math.max(0, due - this.clock.now()));
  }

  stopTimers(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  #closeAttempt(
    task: TaskEntry,
    state: TaskState,
    fields: { exitCode?: number | null; signal?: string | null; reason?: string | null; at?: number },
  ): void {
    const attempt = task.attempt;
    if (!attempt || attempt.state === "lost") return;
    attempt.state = state;
    attempt.exitCode = fields.exitCode ?? null;
    attempt.signal = fields.signal ?? null;
    attempt.reason = fields.reason ?? null;
    attempt.finishedAt = fields.at ?? this.clock.now();
    this.writer.attempt(attempt);
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
    record.retryAt = null;
    record.durationMs = fields.durationMs ?? (record.startedAt === null ? null : Math.max(0, at - record.startedAt));
    this.#closeAttempt(task, state, { ...fields, at });
    this.#detach(task);
    this.#delayed.delete(task);
    task.stopRequested = false;
    this.#setState(task, state);
    if (state === "succeeded") this.#succeeded(task.template);
    else if (FAILED_STATES.has(state)) this.#skipDependents(task.template);
  }

  /** When every copy of a template succeeded, the templates that need it may start. */
  #succeeded(template: TemplateEntry): void {
    template.succeeded++;
    if (template.succeeded < template.instances.length) return;
    for (const dependent of template.dependents) {
      if (!dependent.waitingOn.delete(template) || dependent.waitingOn.size > 0) continue;
      for (const task of dependent.instances) if (task.record.state === "queued") this.#enqueue(task);
      this.scheduleSoon();
    }
  }

  /** A template that cannot succeed any more: whatever needs it ends `skipped` and never runs. */
  #skipDependents(template: TemplateEntry): void {
    for (const dependent of template.dependents) {
      for (const task of dependent.instances) {
        if (task.record.state === "queued") {
          this.#end(task, "skipped", { reason: `skipped: "${template.name}" did not succeed` });
        }
      }
    }
  }

  /** Why a queued task has not started, for `status`. */
  waitReason(task: TaskEntry): string | null {
    if (task.record.state !== "queued") return task.record.reason;
    if (task.record.retryAt !== null) {
      return `${task.record.reason ?? "retrying"}; next attempt after ${new Date(task.record.retryAt).toISOString()}`;
    }
    if (task.template.waitingOn.size > 0) {
      return `waiting for ${[...task.template.waitingOn].map((t) => `"${t.name}"`).join(", ")}`;
    }
    return task.template.blockedReason ?? task.record.reason;
  }

  // ---- scheduling ----------------------------------------------------------------------------

  /** Place what can be placed now (a report answers with the work its freed slots got). */
  scheduleNow(): void {
    this.#scheduling.now();
  }

  scheduleSoon(): void {
    this.#scheduling.soon();
  }

  // ---- agents --------------------------------------------------------------------------------

  /** The agent spoke: it is alive. A down agent becomes ready again and keeps the tasks it still had. */
  seen(agent: AgentEntry): void {
    agent.lastSeen = this.clock.now();
    if (agent.record.state !== "down") return;
    agent.record.state = "ready";
    this.writer.agent(agent.record);
    this.#log(`agent ${agent.record.name} is back`);
    for (const task of agent.tasks) {
      if (task.record.state === "lost" && task.attempt) {
        // Back within its tasks' lostAfter: the attempt goes on where it was.
        task.record.reason = null;
        this.#setState(task, task.attempt.state === "running" ? "running" : "assigned");
      }
    }
    agent.claim.notify();
    this.scheduleSoon();
  }

  /**
   * Agents silent past `ttlMs` are down. Their tasks are lost and queued again, except those with a
   * longer `lostAfter`: they wait, as `lost`, for their agent until that much silence has passed.
   */
  expireAgents(ttlMs: number): string[] {
    const now = this.clock.now();
    const expired: string[] = [];
    for (const agent of this.agents.values()) {
      const silence = now - agent.lastSeen;
      if (agent.record.state === "ready" && silence > ttlMs) {
        agent.record.state = "down";
        this.writer.agent(agent.record);
        expired.push(agent.record.name);
        this.#log(`agent ${agent.record.name} missed its heartbeats for ${silence}ms: down`);
        agent.claim.notify();
        this.scheduleSoon();
      }
      if (agent.record.state !== "down") continue;
      for (const task of [...agent.tasks]) {
        const patience = task.template.effective.lostAfterMs ?? 0;
        if (silence > patience) {
          this.lose(task, `agent ${agent.record.name} stopped heartbeating`);
        } else if (task.record.state !== "lost") {
          task.record.reason = `agent ${agent.record.name} is unreachable; the task runs elsewhere after ${
            new Date(agent.lastSeen + patience).toISOString()
          } unless the agent is back`;
          this.#setState(task, "lost");
        }
      }
    }
    return expired;
  }

  /** Draining agents past their deadline hand back what they still run: it is queued again elsewhere. */
  handBackDrained(): void {
    const now = this.clock.now();
    for (const agent of this.agents.values()) {
      const deadline = agent.record.drainDeadline;
      if (!agent.record.draining || deadline === null || now < deadline || agent.tasks.size === 0) continue;
      for (const task of [...agent.tasks]) this.handBack(task, `handed back: agent ${agent.record.name} drained`);
      agent.claim.notify();
    }
  }

  /** The attempt ends without a result and the task is queued again; it does not count as lost. */
  handBack(task: TaskEntry, reason: string): void {
    if (this.#abandonAttempt(task, reason)) return;
    task.record.attempt++;
    this.#requeue(task, reason, 0);
  }

  /** The current attempt ends without a result; true when that also ends the task (it was being cancelled). */
  #abandonAttempt(task: TaskEntry, reason: string): boolean {
    if (task.attempt) {
      task.attempt.state = "lost";
      task.attempt.reason = reason;
      task.attempt.finishedAt = this.clock.now();
      this.writer.attempt(task.attempt);
    }
    this.#detach(task);
    if (task.stopRequested || task.job.record.cancelRequested) {
      this.#end(task, "cancelled", { reason: "cancelled" });
      return true;
    }
    return false;
  }
}

function addResources(into: AgentResources, add: AgentResources, sign: 1 | -1): void {
  into.cpu += sign * add.cpu;
  into.memory += sign * add.memory;
  into.disk += sign * add.disk;
}

function outcomeOf(
  result: TaskResult,
): { state: TaskState; exitCode: number | null; signal: string | null; reason: string | null } {
  switch (result.kind) {
    case "exited":
      return { state: result.code === 0 ? "succeeded" : "failed", exitCode: result.code, signal: null, reason: null };
    case "signaled":
      return { state: "failed", exitCode: null, signal: result.signal, reason: `killed by ${result.signal}` };
    case "timed_out":
      return { state: "failed", exitCode: null, signal: null, reason: "timed_out" };
    case "oom":
      return { state: "failed", exitCode: null, signal: "SIGKILL", reason: "oom" };
    case "cancelled":
      return { state: "cancelled", exitCode: null, signal: null, reason: "cancelled" };
    case "failed_to_start":
      return { state: "failed", exitCode: null, signal: null, reason: `failed to start: ${result.message}` };
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
