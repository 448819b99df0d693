/**
 * Retention: ended jobs, with their tasks, attempts and logs, are deleted once they ended longer ago
 * than `--retention` (or the job's own `retention:`, when longer). A pass runs every minute, and
 * `fabric gc` runs one now. A pass is a series of short steps (store.purgeExpired: a few thousand
 * rows or 10 ms each, in the store's writer), each followed by a pause as long as it took, so that the
 * tracker's own commits, queued behind a step, wait at most one step, and retention takes at most
 * about half of the writer's time however much there is to delete.
 */
import { type Clock, formatDuration, sleep, type TimerId } from "../protocol/mod.ts";
import { emptyPurge, type Fence, LeaseLostError, type PurgeResult, type Store, type StoreSpace } from "../store/mod.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";

/** The default --retention: a week. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;
/** The default --audit-retention: 90 days. */
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;
/** One step's bounds. */
export const STEP = { maxRows: 1000, maxMs: 5 };
/** Between periodic passes, and before the first. */
const INTERVAL_MS = 60_000;
const FIRST_PASS_MS = 5_000;
/** Steps in one pass at most (2000 rows each): a larger backlog goes on in the next pass. */
const MAX_STEPS = 10_000;
/** A pause after each step at least this long. */
const MIN_PAUSE_MS = 1;

export interface RetentionOptions {
  store: Store;
  clock: Clock;
  /** 0 or less: no job is deleted. */
  retentionMs: number;
  /** Audit entries older than this go; 0 or less (or absent): none does. */
  auditRetentionMs?: number;
  metrics: TrackerMetrics;
  log: (message: string) => void;
  /** The lease this tracker leads by: each step deletes only while it is held (a store several trackers share). */
  fence?: Fence;
  /** A step was refused: this tracker no longer leads (it stops deleting; its successor's retention goes on). */
  onLeaseLost?: (error: LeaseLostError) => void;
}

/** What a run of retention did (a pass, or `fabric gc`), and the store's size after it. */
export interface GcResult extends PurgeResult {
  retentionMs: number;
  auditRetentionMs: number;
  seconds: number;
  space: StoreSpace | null;
}

export class Retention {
  #options: RetentionOptions;
  #timer: TimerId | undefined;
  #stopped = false;
  /** The run under way: one at a time, a `fabric gc` waits for a periodic pass and goes on after it. */
  #running: Promise<unknown> = Promise.resolve();

  constructor(options: RetentionOptions) {
    this.#options = options;
  }

  get retentionMs(): number {
    return this.#options.retentionMs;
  }

  /** Whether anything is ever deleted: jobs, or audit entries. */
  get #on(): boolean {
    return this.#options.retentionMs > 0 || (this.#options.auditRetentionMs ?? 0) > 0;
  }

  /** Periodic passes from now on (none when retention is off). */
  start(): void {
    if (!this.#on || this.#stopped) return;
    this.#schedule(FIRST_PASS_MS);
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.run({ budgetMs: Infinity }).catch((error) => {
        if (error instanceof LeaseLostError) return; // this Tracker is being dropped (#run said so)
        this.#options.log(`retention: ${(error as Error)?.message ?? error}; trying again in a minute`);
      }).finally(() => {
        if (!this.#stopped) this.#schedule(INTERVAL_MS);
      });
    }, delayMs);
  }

  /** Delete what is due, until nothing is left, `budgetMs` has passed, or MAX_STEPS steps. */
  run(options: { budgetMs: number }): Promise<GcResult> {
    const run = this.#running.catch(() => {}).then(() => this.#run(options.budgetMs)).catch((error) => {
      if (error instanceof LeaseLostError) this.#options.onLeaseLost?.(error);
      throw error;
    });
    this.#running = run;
    return run;
  }

  async #run(budgetMs: number): Promise<GcResult> {
    const { store, clock, retentionMs, metrics, log } = this.#options;
    const auditRetentionMs = this.#options.auditRetentionMs ?? 0;
    const started = performance.now();
    const total = emptyPurge();
    for (let step = 0; step < MAX_STEPS && this.#on && !this.#stopped; step++) {
      const stepStarted = performance.now();
      const result = await store.purgeExpired({
        ...{ now: clock.now(), retentionMs, auditRetentionMs, fence: this.#options.fence },
        ...STEP,
      });
      total.jobs += result.jobs;
      total.tasks += result.tasks;
      total.attempts += result.attempts;
      total.logs += result.logs;
      total.audit += result.audit;
      total.blobRows += result.blobRows;
      metrics.jobsDeleted.inc(result.jobs);
      total.more = result.more;
      if (!result.more || performance.now() - started >= budgetMs) break;
      const took = performance.now() - stepStarted;
      await sleep(clock, Math.max(MIN_PAUSE_MS, took));
    }
    const seconds = (performance.now() - started) / 1000;
    if (total.audit > 0) {
      log(`retention: deleted ${total.audit} audit entries recorded over ${formatDuration(auditRetentionMs)} ago`);
    }
    if (total.jobs + total.tasks > 0) {
      log(
        `retention: deleted ${total.jobs} job(s) that ended over ${formatDuration(retentionMs)} ago, ` +
          `${total.tasks} task(s), ${total.logs} log chunk(s) in ${seconds.toFixed(2)}s` +
          (total.more ? "; more to delete" : ""),
      );
    }
    const space = await store.space().catch(() => null);
    return { ...total, retentionMs, auditRetentionMs, seconds, space };
  }

  /** No more passes; resolves once the one under way has stopped (after its current step). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running.catch(() => {});
  }
}
