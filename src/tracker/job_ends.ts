/**
 * What ends a whole job rather than one task (task_lifecycle.ts): its cancel, one at a time
 * (job_cancel.ts), and its leaving memory: evicted once it has ended and that is durable, or discarded
 * when it could not be loaded.
 */
import type { JobEntry, TaskEntry } from "./entries.ts";
import { cancelJob } from "./job_cancel.ts";
import type { QueuedTasks } from "./queued_tasks.ts";
import { forEachSliced, type Slices } from "./slices.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";

export interface JobEndsOptions {
  state: FabricState;
  writer: StoreWriter;
  queued: QueuedTasks;
  /** The job's cancelRequested was just set: mark its record for the store. */
  requested: (job: JobEntry) => void;
  /** Ends a task that has not started (queued, lost, assigned) as cancelled. */
  cancelled: (task: TaskEntry) => void;
  /** What the task held on its agent is free. */
  detach: (task: TaskEntry) => void;
}

export class JobEnds {
  #o: JobEndsOptions;
  /** The cancels under way (cancel()). */
  #cancelling = new Map<JobEntry, Promise<{ cancelled: number; stopping: number }>>();

  constructor(options: JobEndsOptions) {
    this.#o = options;
  }

  /**
   * Cancel what has not ended: queued and undelivered tasks at once, running ones once their agent stops
   * them, in slices (job_cancel.ts says why that is safe). A second cancel while one is under way is
   * answered with the first one's result.
   */
  cancel(job: JobEntry, slices: Slices): Promise<{ cancelled: number; stopping: number }> {
    const under = this.#cancelling.get(job);
    if (under) return under;
    const pass = cancelJob(job, slices, {
      requested: () => this.#o.requested(job),
      end: (task) => this.#o.cancelled(task),
      agent: (id) => this.#o.state.agents.get(id),
      writer: this.#o.writer,
    }).finally(() => this.#cancelling.delete(job));
    this.#cancelling.set(job, pass);
    return pass;
  }

  /** Forget a job that could not be loaded: off its agents and out of memory (the store sets it aside). */
  discard(job: JobEntry): void {
    for (const task of job.tasks) {
      this.#o.detach(task);
      this.#o.queued.forget(task);
    }
    this.#o.state.removeJob(job);
  }

  /**
   * Ended jobs leave memory once durable; reads then come from the store. Their tasks' watchers are
   * woken in slices (slices.ts): safe, as the job is out of `jobs` before the first slice, so that
   * nothing finds it or its tasks in memory any more (not a claim, a report or a read: they find it in
   * the store, which has it whole, as this runs once it is durable), and every task has ended.
   */
  async evict(job: JobEntry): Promise<void> {
    if (!this.#o.state.removeJob(job)) return;
    job.changed.notify();
    await forEachSliced(job.tasks, (task) => {
      this.#o.queued.forget(task);
      task.changed?.notify();
    });
  }
}
