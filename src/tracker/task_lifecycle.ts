/**
 * Every state a task goes through: queued (ready, waiting for its needs, or for a retry's backoff),
 * assigned to an agent, running, and its end (succeeded, failed, cancelled, skipped), with `lost`
 * between while its agent is silent. A new attempt is made in one place (`#requeue`). Each change
 * marks its records for the next group commit; nothing that wakes a waiter runs before the change is
 * durable.
 */
import { type Clock, formatDuration, type TaskState } from "../protocol/mod.ts";
import type { AttemptRecord } from "../store/mod.ts";
import { attach, detach } from "./allocation.ts";
import { abandonAttempt, closeAttempt, type Ending, newAttempt } from "./attempts.ts";
import { copyEnded } from "./dependencies.ts";
import { JobEnds } from "./job_ends.ts";
import type { AgentEntry, FinishReport, JobEntry, TaskEntry } from "./entries.ts";
import { JobProgress } from "./job_progress.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";
import { recordRuntime } from "./prefetch.ts";
import { QueuedTasks } from "./queued_tasks.ts";
import { Slices } from "./slices.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import { finishOutcome, isJson, retryDelay } from "./task_outcome.ts";

const ACTIVE_ON_AGENT: ReadonlySet<TaskState> = new Set(["assigned", "running"]);

export interface TaskLifecycleOptions {
  state: FabricState;
  writer: StoreWriter;
  clock: Clock;
  log: (message: string) => void;
  /** Ask for a scheduling pass soon: a slot was freed or a task became ready. */
  schedule: () => void;
  metrics: TrackerMetrics;
}

export class TaskLifecycle {
  #state: FabricState;
  #writer: StoreWriter;
  #clock: Clock;
  #log: (message: string) => void;
  #schedule: () => void;
  /** Where queued tasks wait for their turn (queued_tasks.ts). */
  #queued: QueuedTasks;
  #progress: JobProgress;
  #metrics: TrackerMetrics;
  /** A whole job's cancel, and its leaving memory (job_ends.ts). */
  #jobs: JobEnds;

  constructor(options: TaskLifecycleOptions) {
    this.#metrics = options.metrics;
    this.#state = options.state;
    this.#writer = options.writer;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#schedule = options.schedule;
    const { writer, clock, log, metrics } = options;
    this.#queued = new QueuedTasks({ clock, writer, schedule: options.schedule });
    this.#progress = new JobProgress({ writer, clock, log, metrics, evict: (job) => void this.#jobs.evict(job) });
    this.#jobs = new JobEnds({
      ...{ state: options.state, writer, queued: this.#queued },
      requested: (job) => this.#progress.jobChanged(job),
      cancelled: (task) => this.#end(task, "cancelled", { reason: "cancelled" }),
      detach: (task) => this.#detach(task),
    });
  }

  // ---- queued --------------------------------------------------------------------------------

  /**
   * A new job, before it is visible (FabricState.addJob's `prepare`): those of its tasks with nothing to
   * wait for are ready. In slices: its templates' queues are reached by nothing else yet.
   */
  async queueJob(job: JobEntry, slices = new Slices()): Promise<void> {
    for (const task of job.tasks) {
      // A rerun's carried-over tasks have succeeded already.
      if (task.record.state === "queued") this.#queued.enqueue(task);
      if (slices.due()) await slices.next();
    }
  }

  /** A task as the store had it at a start: it goes on where it was, or is queued again. */
  restore(task: TaskEntry, attempt: AttemptRecord | undefined): void {
    const state = task.record.state;
    const agent = task.record.agentId ? this.#state.agents.get(task.record.agentId) : undefined;
    if (ACTIVE_ON_AGENT.has(state) && attempt && agent) {
      task.attempt = attempt;
      attach(task, agent);
    } else if (ACTIVE_ON_AGENT.has(state) || state === "lost") {
      this.#requeue(task, "its agent is unknown to this tracker", 0);
    } else if (state === "queued") {
      this.#queued.enqueue(task);
    }
  }

  /** The current attempt is over without the task ending: a new attempt is queued, after `delayMs`. */
  #requeue(task: TaskEntry, reason: string, delayMs: number): void {
    this.#detach(task);
    task.record.attempt++;
    task.record.agentId = null;
    task.record.startedAt = null;
    task.record.reason = reason;
    task.record.retryAt = delayMs > 0 ? this.#clock.now() + delayMs : null;
    task.attempt = null;
    this.#progress.taskChanged(task, "queued");
    this.#queued.enqueue(task, true);
    this.#schedule();
  }

  /** Tasks whose backoff has passed are ready again. */
  releaseDue(): void {
    this.#queued.releaseDue();
  }

  stopTimers(): void {
    this.#queued.stop();
  }

  // ---- on an agent ---------------------------------------------------------------------------

  /** Place `task` on `agent` as its current attempt (the scheduler's plan, applied). */
  assign(task: TaskEntry, agent: AgentEntry): void {
    const record = task.record;
    const attempt = newAttempt(record, { agentId: agent.record.id, now: this.#clock.now() });
    task.attempt = attempt;
    task.deliveredAt = null;
    record.agentId = agent.record.id;
    record.reason = null;
    attach(task, agent);
    this.#writer.attempt(attempt);
    this.#progress.taskChanged(task, "assigned");
    this.#writer.wakeAfterCommit(agent.claim);
  }

  start(task: TaskEntry, at: number): void {
    if (task.record.state !== "assigned" || !task.attempt) return;
    task.record.startedAt = at;
    task.attempt.startedAt = at;
    task.attempt.state = "running";
    if (task.record.attempt === 1) this.#metrics.taskWait.observe(Math.max(0, at - task.record.createdAt) / 1000);
    this.#writer.attempt(task.attempt);
    this.#progress.taskChanged(task, "running");
  }

  /** Its agent is silent: the task waits for it, as `lost`, with `reason` saying until when. */
  awaitAgent(task: TaskEntry, reason: string): void {
    if (task.record.state === "lost") return;
    task.record.reason = reason;
    this.#progress.taskChanged(task, "lost");
  }

  /** Its agent is back within the task's patience: the attempt goes on where it was. */
  agentBack(task: TaskEntry): void {
    if (task.record.state !== "lost" || !task.attempt) return;
    task.record.reason = null;
    this.#progress.taskChanged(task, task.attempt.state === "running" ? "running" : "assigned");
  }

  /** What the task held on its agent is free: a scheduling pass may fill it. */
  #detach(task: TaskEntry): void {
    const agentId = task.attempt?.agentId;
    if (detach(task, agentId ? this.#state.agents.get(agentId) : undefined)) this.#schedule();
  }

  // ---- ends of an attempt --------------------------------------------------------------------

  /** The agent's final word on the current attempt: the task ends, or is retried after its backoff. */
  finish(task: TaskEntry, report: FinishReport): void {
    if (!task.attempt) return;
    if (task.record.state === "assigned") this.start(task, report.at - report.durationMs);
    const template = task.template;
    recordRuntime(template, report.durationMs);
    this.#metrics.taskRun.observe(report.durationMs / 1000);
    const outcome = finishOutcome(report, task.stopRequested);
    task.record.outputTruncated = report.outputTruncated ?? false;
    if (outcome.state === "succeeded" && report.output !== undefined) task.record.output = report.output;
    const ending = { ...outcome, at: report.at, durationMs: report.durationMs };
    if (outcome.state === "failed" && !task.job.record.cancelRequested) {
      const failures = ++task.record.failures;
      const delay = retryDelay(template.effective, failures);
      if (delay !== null) {
        this.#metrics.tasksRetried.inc();
        this.#closeAttempt(task, "failed", ending);
        const why = outcome.reason ?? `exit code ${outcome.exitCode}`;
        const retries = template.effective.retries;
        this.#log(
          `task ${task.record.id} failed (${why}); retry ${failures} of ${retries} in ${formatDuration(delay)}`,
        );
        this.#requeue(task, `retry ${failures} of ${retries} after ${why}`, delay);
        return;
      }
    }
    // A failed task keeps the JSON its last attempt left (a summary step reads which shards failed).
    if (outcome.state === "failed" && report.output !== undefined && isJson(report.output)) {
      task.record.output = report.output;
    }
    this.#end(task, outcome.state, ending);
  }

  /** The agent no longer runs the task: queue it again with a new attempt, within its lost budget. */
  lose(task: TaskEntry, reason: string): void {
    this.#metrics.tasksLost.inc();
    if (this.#abandonAttempt(task, reason)) return;
    task.record.losses++;
    const budget = task.template.effective.lostRetries;
    if (task.record.losses > budget) {
      this.#end(task, "failed", { reason: `lost ${task.record.losses} times (last: ${reason})` });
      return;
    }
    this.#log(`task ${task.record.id} lost (${reason}); queued again as attempt ${task.record.attempt + 1}`);
    this.#requeue(task, `queued again: ${reason}`, 0);
  }

  /**
   * A copy for one agent (`select: all`) whose agent is gone past the task's patience can never run:
   * it fails, saying why, rather than wait for ever (so that `fabric run --all` ends, naming the agent).
   */
  failPinned(task: TaskEntry, reason: string): void {
    if (task.record.state !== "queued") return;
    this.#log(`task ${task.record.id} failed: ${reason}`);
    this.#end(task, "failed", { reason });
  }

  /** The attempt ends without a result and the task is queued again; it does not count as lost. */
  handBack(task: TaskEntry, reason: string): void {
    if (this.#abandonAttempt(task, reason)) return;
    this.#requeue(task, reason, 0);
  }

  /** The current attempt ends without a result; true when that also ends the task (it was being cancelled). */
  #abandonAttempt(task: TaskEntry, reason: string): boolean {
    if (task.attempt) {
      abandonAttempt(task.attempt, { reason, now: this.#clock.now() });
      this.#writer.attempt(task.attempt);
    }
    this.#detach(task);
    if (task.stopRequested || task.job.record.cancelRequested) {
      this.#end(task, "cancelled", { reason: "cancelled" });
      return true;
    }
    return false;
  }

  #closeAttempt(task: TaskEntry, state: TaskState, ending: Ending): void {
    const attempt = task.attempt;
    if (attempt && closeAttempt(attempt, { ...ending, state, now: this.#clock.now() })) this.#writer.attempt(attempt);
  }

  // ---- ends of a task ------------------------------------------------------------------------

  /** Cancel what has not ended, in slices; a second cancel meanwhile has the first one's result (job_ends.ts). */
  cancel(job: JobEntry, slices = new Slices()): Promise<{ cancelled: number; stopping: number }> {
    return this.#jobs.cancel(job, slices);
  }

  /** Forget a job that could not be loaded: off its agents and out of memory (job_ends.ts). */
  discard(job: JobEntry): void {
    this.#jobs.discard(job);
  }

  /** The task ends; what needs it may start, or never will (each need's condition says: dependencies.ts). */
  #end(task: TaskEntry, state: TaskState, ending: Ending): void {
    this.#close(task, state, ending);
    const unblocked = copyEnded(task.template, state === "succeeded", (skipped, why) => {
      this.#close(skipped, "skipped", { reason: why });
    });
    for (const template of unblocked) {
      for (const waiting of template.instances) if (waiting.record.state === "queued") this.#queued.enqueue(waiting);
      this.#schedule();
    }
  }

  #close(task: TaskEntry, state: TaskState, ending: Ending): void {
    const at = ending.at ?? this.#clock.now();
    const record = task.record;
    record.exitCode = ending.exitCode ?? null;
    record.signal = ending.signal ?? null;
    record.reason = ending.reason ?? null;
    record.finishedAt = at;
    record.retryAt = null;
    record.durationMs = ending.durationMs ?? (record.startedAt === null ? null : Math.max(0, at - record.startedAt));
    this.#closeAttempt(task, state, { ...ending, at });
    this.#detach(task);
    this.#queued.forget(task);
    task.stopRequested = false;
    this.#progress.taskChanged(task, state);
  }
}
