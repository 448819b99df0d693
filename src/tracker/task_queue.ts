/**
 * The ready tasks of one task template, in order: retries and lost tasks first (they were queued
 * before the rest), then the others by their position in the job. Entries that stopped being
 * queued (cancelled, skipped) are dropped lazily when they reach the head.
 */
export interface Queueable {
  record: { state: string; retryAt: number | null };
}

export class TaskQueue<T extends Queueable> {
  #front: T[] = [];
  #main: T[] = [];
  #head = 0;

  push(task: T): void {
    this.#main.push(task);
  }

  /** Ahead of everything else (a retry, or a task its agent lost). */
  pushFront(task: T): void {
    this.#front.push(task);
  }

  /** The next task that is still waiting to run, or undefined. */
  peek(): T | undefined {
    while (this.#front.length > 0 && !waiting(this.#front[0])) this.#front.shift();
    if (this.#front.length > 0) return this.#front[0];
    while (this.#head < this.#main.length && !waiting(this.#main[this.#head])) this.#head++;
    this.#compact();
    return this.#main[this.#head];
  }

  /** Remove the task `peek` returned. */
  shift(): void {
    if (this.#front.length > 0) this.#front.shift();
    else this.#head++;
  }

  /** Remove `task`, which is still waiting: from the head when it is there (the usual case), else wherever it is. */
  take(task: T): void {
    if (this.peek() === task) this.shift();
    else this.remove(task);
  }

  /** Every task still waiting, in order (for small queues that are not served head first). */
  *waitingTasks(): Generator<T> {
    for (const task of this.#front) if (waiting(task)) yield task;
    for (let i = this.#head; i < this.#main.length; i++) if (waiting(this.#main[i])) yield this.#main[i];
  }

  /** Drop `task` wherever it is (it was placed out of order). */
  remove(task: T): void {
    const i = this.#front.indexOf(task);
    if (i >= 0) this.#front.splice(i, 1);
    const j = this.#main.indexOf(task, this.#head);
    if (j >= 0) this.#main.splice(j, 1);
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#main.length) {
      this.#main = this.#main.slice(this.#head);
      this.#head = 0;
    }
  }
}

function waiting(task: Queueable): boolean {
  return task.record.state === "queued" && task.record.retryAt === null;
}
