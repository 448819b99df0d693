/**
 * Where a queued task waits for its turn: its template's ready queue (task_queue.ts), the one timer of
 * the retries' backoffs (retry_timer.ts) until its backoff has passed, or nowhere while it waits for its
 * dependencies (the task lifecycle queues it once they have ended).
 */
import type { Clock } from "../protocol/mod.ts";
import type { TaskEntry } from "./entries.ts";
import { RetryTimer } from "./retry_timer.ts";
import type { StoreWriter } from "./store_writer.ts";

export interface QueuedTasksOptions {
  clock: Clock;
  writer: StoreWriter;
  /** Ask for a scheduling pass soon: a task became ready. */
  schedule: () => void;
}

export class QueuedTasks {
  #writer: StoreWriter;
  #schedule: () => void;
  #backoffs: RetryTimer<TaskEntry>;

  constructor(options: QueuedTasksOptions) {
    this.#writer = options.writer;
    this.#schedule = options.schedule;
    this.#backoffs = new RetryTimer({ clock: options.clock, onDue: () => this.releaseDue() });
  }

  /** To its template's ready queue, unless it waits for a backoff or its dependencies. */
  enqueue(task: TaskEntry, front = false): void {
    if (task.record.retryAt !== null) {
      this.#backoffs.add(task, task.record.retryAt);
      return;
    }
    if (task.template.waitingOn.size > 0) return;
    if (front) task.template.ready.pushFront(task);
    else task.template.ready.push(task);
  }

  /** Tasks whose backoff has passed are ready again. */
  releaseDue(): void {
    for (const task of this.#backoffs.takeDue()) {
      if (task.record.state !== "queued") continue;
      task.record.retryAt = null;
      this.#writer.task(task.record);
      this.enqueue(task, true);
      this.#schedule();
    }
  }

  /** No longer waits for its backoff: it ended, or left memory. */
  forget(task: TaskEntry): void {
    this.#backoffs.delete(task);
  }

  stop(): void {
    this.#backoffs.stop();
  }
}
