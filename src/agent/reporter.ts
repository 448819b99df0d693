/**
 * Delivery of task events, in order, at least once. Events queue in memory and go out in batches;
 * a batch leaves the queue only when the tracker has acknowledged it, so a tracker that is away
 * gets everything when it returns. Events of an attempt the tracker calls stale are dropped.
 */
import type { FabricClient } from "../client/mod.ts";
import { type AttemptRef, FabricError, type TaskEvent } from "../protocol/mod.ts";

const MAX_BATCH_EVENTS = 1000;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface ReporterOptions {
  client: FabricClient;
  onStale: (ref: AttemptRef) => void;
  log: (message: string) => void;
}

export class Reporter {
  #queue: TaskEvent[] = [];
  #options: ReporterOptions;
  #wake: (() => void) | null = null;
  #idle: Array<() => void> = [];
  #stopped = false;
  #failing = false;

  constructor(options: ReporterOptions) {
    this.#options = options;
  }

  enqueue(event: TaskEvent): void {
    this.#queue.push(event);
    this.#wake?.();
  }

  /** Attempts with events not yet acknowledged. */
  pendingAttempts(): AttemptRef[] {
    const seen = new Map<string, AttemptRef>();
    for (const e of this.#queue) seen.set(`${e.taskId}#${e.attempt}`, { taskId: e.taskId, attempt: e.attempt });
    return [...seen.values()];
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Resolves once the queue is empty (or after `ms`). */
  drained(ms: number): Promise<boolean> {
    if (this.#queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.#queue.length === 0), ms);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async run(): Promise<void> {
    let backoff = 100;
    while (!this.#stopped) {
      if (this.#queue.length === 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        continue;
      }
      const batch = this.#takeBatch();
      try {
        const response = await this.#options.client.report(batch);
        this.#queue.splice(0, batch.length);
        if (this.#failing) this.#options.log("the tracker takes reports again");
        this.#failing = false;
        backoff = 100;
        for (const ref of response.stale) this.#dropAttempt(ref);
      } catch (error) {
        if (!this.#failing) {
          this.#options.log(`cannot deliver reports (${(error as Error).message}); keeping them and retrying`);
        }
        this.#failing = true;
        if (error instanceof FabricError && error.code === "bad_request") {
          // A batch the tracker can never take would block everything behind it.
          this.#options.log(`dropping ${batch.length} event(s) the tracker rejects: ${error.message}`);
          this.#queue.splice(0, batch.length);
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  #takeBatch(): TaskEvent[] {
    let bytes = 0;
    let end = 0;
    while (end < this.#queue.length && end < MAX_BATCH_EVENTS) {
      const event = this.#queue[end];
      const size = event.type === "output" ? event.chunks.reduce((n, c) => n + c.data.length, 64) : 64;
      if (end > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      end++;
    }
    return this.#queue.slice(0, end);
  }

  #dropAttempt(ref: AttemptRef): void {
    this.#queue = this.#queue.filter((e) => e.taskId !== ref.taskId || e.attempt !== ref.attempt);
    this.#options.onStale(ref);
  }
}
