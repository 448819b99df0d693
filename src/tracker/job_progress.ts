/**
 * A job's record follows its tasks: each task's change moves the job's counts and version, its state
 * follows from the counts, and a job that has ended leaves memory once that is durable.
 */
import { type Clock, isTerminalJob, jobStateFrom, type TaskState } from "../protocol/mod.ts";
import type { JobEntry, TaskEntry } from "./entries.ts";
import { type JobOutcome, TASK_OUTCOMES, type TaskOutcome, type TrackerMetrics } from "./metrics/mod.ts";
import type { StoreWriter } from "./store_writer.ts";

const ENDED: ReadonlySet<TaskState> = new Set(TASK_OUTCOMES);

export interface JobProgressOptions {
  writer: StoreWriter;
  clock: Clock;
  log: (message: string) => void;
  metrics: TrackerMetrics;
  /** The job ended and that is durable: it leaves memory (reads then come from the store). */
  evict: (job: JobEntry) => void;
}

export class JobProgress {
  #writer: StoreWriter;
  #clock: Clock;
  #log: (message: string) => void;
  #evict: (job: JobEntry) => void;
  #metrics: TrackerMetrics;

  constructor(options: JobProgressOptions) {
    this.#metrics = options.metrics;
    this.#writer = options.writer;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#evict = options.evict;
  }

  /** `task` is now in `state` (or changed within it): both records are written, and its followers woken once durable. */
  taskChanged(task: TaskEntry, state: TaskState): void {
    const record = task.record;
    const counts = task.job.record.counts;
    if (record.state !== state) {
      counts[record.state]--;
      counts[state]++;
      record.state = state;
      if (ENDED.has(state)) this.#metrics.tasksFinished[state as TaskOutcome].inc();
    }
    this.#writer.task(record);
    this.jobChanged(task.job);
    const changed = task.changed;
    if (changed) this.#writer.wakeAfterCommit(changed);
  }

  /** Every change of a job or its tasks moves its version, which watchers wait on. */
  jobChanged(job: JobEntry): void {
    const record = job.record;
    record.version++;
    const next = jobStateFrom(record.counts, record.total, record.cancelRequested);
    if (next !== record.state) {
      record.state = next;
      if (isTerminalJob(next)) {
        record.finishedAt = this.#clock.now();
        this.#metrics.jobsFinished[next as JobOutcome].inc();
        this.#writer.afterCommit(() => this.#evict(job));
        this.#log(`job ${record.id} (${record.name}) ${next}`);
      }
    }
    this.#writer.job(record);
    this.#writer.wakeAfterCommit(job.changed);
  }
}
