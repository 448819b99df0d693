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
import { cancelJob } from "./job_cancel.ts";
import type { AgentEntry, FinishReport, JobEntry, TaskEntry } from "./entries.ts";
import { JobProgress } from "./job_progress.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";
import { recordRuntime } from "./prefetch.ts";
import { RetryTimer } from "./retry_timer.ts";
import { forEachSliced, Slices } from "./slices.ts";
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
  #backoffs: RetryTimer<TaskEntry>;
  #progress: JobProgress;
  #metrics: TrackerMetrics;
  /** The cancels under way (cancel()). */
  #cancelling = new Map<JobEntry, Promise<{ cancelled: number; stopping: number }>>();

  constructor(options: TaskLifecycleOptions) {
    this.#metrics = options.metrics;
    this.#state = options.state;
    this.#writer = options.writer;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#schedule = options.schedule;
    this.#backoffs = new RetryTimer({ clock: options.clock, onDue: () => this.releaseDue() });
    const { writer, clock, log, metrics } = options;
    this.#progress = new JobProgress({ writer, clock, log, metrics, evict: (job) => void this.#evict(job) });
  }

  // ---- queued --------------------------------------------------------------------------------

  /**
   * A new job, before it is visible (FabricState.addJob's `prepare`): those of its tasks with nothing to
   * wait for are ready. In slices: its templates' queues are reached by nothing else yet.
   */
  async queueJob(job: JobEntry, slices = new Slices()): Promise<void> {
    for (const task of job.tasks) {
      // A rerun's carried-over tasks have succeeded already.
      if (task.record.state === "queued") this.#enqueue(task);
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
      this.#enqueue(task);
    }
  }

  /** To its template's ready queue, unless it waits for a backoff or its dependencies. */
  #enqueue(task: TaskEntry, front = false): void {
    if (task.record.retryAt !== null) {
      this.#backoffs.add(task, task.record.retryAt);
      return;
    }
    if (task.template.waitingOn.size > 0) return;
    if (front) task.template.ready.pushFront(task);
    else task.template.ready.push(task);
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
    this.#enqueue(task, true);
    this.#schedule();
  }

  /** Tasks whose backoff has passed are ready again. */
  releaseDue(): void {
    for (const task of this.#backoffs.takeDue()) {
      if (task.record.state !== "queued") continue;
      task.record.retryAt = null;
      this.#writer.task(task.record);
      this.#enqueue(task, true);
      this.#schedule();
    }
  }

  stopTimers(): void {
    this.#backoffs.stop();
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
    this.#writer.afterCommit(() => agent.claim.notify());
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

  /**
   * Cancel what has not ended: queued and undelivered tasks at once, running ones once their agent stops
   * them, in slices (job_cancel.ts says why that is safe). A second cancel while one is under way is
   * answered with the first one's result.
   */
  cancel(job: JobEntry, slices = new Slices()): Promise<{ cancelled: number; stopping: number }> {
    const under = this.#cancelling.get(job);
    if (under) return under;
    const pass = cancelJob(job, slices, {
      requested: () => this.#progress.jobChanged(job),
      end: (task) => this.#end(task, "cancelled", { reason: "cancelled" }),
      agent: (id) => this.#state.agents.get(id),
      writer: this.#writer,
    }).finally(() => this.#cancelling.delete(job));
    this.#cancelling.set(job, pass);
    return pass;
  }

  /** Forget a job that could not be loaded: off its agents and out of memory (the store sets it aside). */
  discard(job: JobEntry): void {
    for (const task of job.tasks) {
      this.#detach(task);
      this.#backoffs.delete(task);
    }
    this.#state.removeJob(job);
  }

  /**
   * Ended jobs leave memory once durable; reads then come from the store. Their tasks' watchers are
   * woken in slices (slices.ts): safe, as the job is out of `jobs` before the first slice, so that
   * nothing finds it or its tasks in memory any more (not a claim, a report or a read: they find it in
   * the store, which has it whole, as this runs once it is durable), and every task has ended.
   */
  async #evict(job: JobEntry): Promise<void> {
    if (!this.#state.removeJob(job)) return;
    job.changed.notify();
    await forEachSliced(job.tasks, (task) => {
      this.#backoffs.delete(task);
      task.changed?.notify();
    });
  }

  /** The task ends; what needs it may start, or never will (each need's condition says: dependencies.ts). */
  #end(task: TaskEntry, state: TaskState, ending: Ending): void {
    this.#close(task, state, ending);
    const unblocked = copyEnded(task.template, state === "succeeded", (skipped, why) => {
      this.#close(skipped, "skipped", { reason: why });
    });
    for (const template of unblocked) {
      for (const waiting of template.instances) if (waiting.record.state === "queued") this.#enqueue(waiting);
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
    this.#backoffs.delete(task);
    task.stopRequested = false;
    this.#progress.taskChanged(task, state);
  }
}
