/**
 * Group commit. The tracker changes its records in memory and marks them dirty; a write of all
 * dirty records in one transaction follows on the next turn of the event loop (and `flush` forces one). Callers that must not answer before their change is durable
 * await `flush`; callbacks registered with `afterCommit` run once the change is on disk (waking a
 * long poll only then means nothing is ever handed out that a crash could forget).
 */
import { setImmediate } from "node:timers";
import { type Clock, RetryBackoff, type RetryPolicy, systemClock, type TimerId } from "../protocol/mod.ts";
import { emptyBatch, type Fence, type Store } from "../store/mod.ts";
import type {
  AgentRecord,
  AttemptRecord,
  AuditRecord,
  JobRecord,
  LogRow,
  PeriodicRecord,
  SetAside,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "../store/mod.ts";
import { MarkedRecords, refuseJobs } from "./marked_records.ts";

/** Waits between writes while the store fails: less often the longer it stays unwell. */
const STORE_RETRY: RetryPolicy = { initialMs: 500, maxMs: 10_000 };

export interface StoreWriterOptions {
  /** The time retries wait by (the system's by default). */
  clock?: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
  /** Told how long each commit took, or that it failed (metrics). */
  observer?: CommitObserver;
  /** The lease every write is fenced by (a store several trackers share). */
  fence?: Fence;
}

export interface CommitObserver {
  committed(seconds: number): void;
  failed(): void;
}

export class StoreWriter {
  #store: Store;
  #records = new MarkedRecords();
  #callbacks: Array<() => void> = [];
  #wakeups = new Set<{ notify(): void }>();
  #marked = 0;
  #committed = 0;
  #writing: Promise<void> | null = null;
  #writeTimer: TimerId | undefined;
  #immediate = false;
  #stopped = false;
  #fence: Fence | undefined;
  /** Set once the tracker no longer leads: every flush, waiting or to come, fails with it. */
  #abandoned: Error | null = null;
  /** Flushes under way, to fail at once when the writer is abandoned. */
  #waiting = new Set<(error: Error) => void>();
  #clock: Clock;
  #retry: RetryBackoff;
  #onError: (error: unknown) => void;
  #observer: CommitObserver | undefined;
  #failure: string | null = null;
  /** New jobs marked for the next commit (stageJob), each with what is told if that commit fails. */
  #staged = new Map<string, (error: unknown, audit: AuditRecord[]) => void>();

  constructor(store: Store, onError: (error: unknown) => void, options: StoreWriterOptions = {}) {
    this.#store = store;
    this.#onError = onError;
    this.#clock = options.clock ?? systemClock;
    this.#fence = options.fence;
    this.#retry = new RetryBackoff(STORE_RETRY, options.random);
    this.#observer = options.observer;
  }

  meta(key: string, value: string): void {
    this.#records.meta.set(key, value);
    this.#mark();
  }
  agent(record: AgentRecord): void {
    this.#records.agents.add(record);
    this.#mark();
  }
  /** A change to a stored job (state, counts, version). */
  job(record: JobRecord): void {
    this.#records.jobs.add(record);
    this.#mark();
  }
  task(record: TaskRecord): void {
    this.#records.tasks.add(record);
    this.#mark();
  }
  attempt(record: AttemptRecord): void {
    this.#records.attempts.add(record);
    this.#mark();
  }
  log(row: LogRow): void {
    this.#records.logs.push(row);
    this.#mark();
  }
  /** A job that cannot be loaded ends failed, with its unended tasks (it is not in memory). */
  setAside(job: SetAside): void {
    this.#records.setAside.push(job);
    this.#mark();
  }

  /** A new job and its tasks, alone and at once: one the store refuses leaves no trace (the caller answers 503). */
  async insertJob(job: JobRecord, tasks: TaskRecord[], periodic?: PeriodicRecord): Promise<void> {
    const batch = emptyBatch();
    batch.newJobs.push(job);
    batch.tasks = tasks;
    // A periodic job's run, with the time it is for: both or neither (periodic.ts).
    if (periodic) batch.periodic.push(periodic);
    await this.#writeAlone(batch);
  }

  /**
   * A new job and its tasks, in the next commit with what is marked after them (its placement, its audit
   * entry): one commit where insertJob and the placement make two. If that commit fails, nothing of the
   * job is written then or later, and `refused` is told at once, before anything else runs, with the
   * job's audit entries (to be written still: it says how they ended, and takes the job out of memory).
   */
  stageJob(job: JobRecord, tasks: TaskRecord[], refused: (error: unknown, audit: AuditRecord[]) => void): void {
    this.#records.newJobs.add(job);
    for (const task of tasks) this.#records.tasks.add(task);
    this.#staged.set(job.id, refused);
    this.#mark();
  }

  /** A periodic job written whole, or deleted, in a transaction of its own and at once. */
  async periodic(change: { record: PeriodicRecord } | { deleted: string }): Promise<void> {
    const batch = emptyBatch();
    if ("record" in change) batch.periodic.push(change.record);
    else batch.deletedPeriodic.push(change.deleted);
    await this.#writeAlone(batch);
  }

  async #writeAlone(batch: WriteBatch): Promise<void> {
    if (this.#abandoned) throw this.#abandoned;
    try {
      await this.#write(batch);
    } catch (error) {
      this.#onError(error);
      throw error;
    }
  }
  /** A new token, or a stored one revoked or used (the store merges it: see TokenRecord). */
  token(record: TokenRecord): void {
    this.#records.tokens.add(record);
    this.#mark();
  }

  /** An entry of the audit trail, appended. */
  audit(record: AuditRecord): void {
    this.#records.audit.push(record);
    this.#mark();
  }

  async #write(batch: WriteBatch): Promise<void> {
    const started = performance.now();
    try {
      await this.#store.write(batch, this.#fence);
    } catch (error) {
      this.#failure = (error as Error)?.message ?? String(error);
      this.#observer?.failed();
      throw error;
    }
    this.#failure = null;
    this.#observer?.committed((performance.now() - started) / 1000);
  }

  /** Why the last write failed, or null when it succeeded (readiness). */
  get failure(): string | null {
    return this.#failure;
  }

  /** Run `callback` after the next commit that holds everything marked so far. */
  afterCommit(callback: () => void): void {
    this.#callbacks.push(callback);
    this.#mark();
  }

  /** As afterCommit(() => wakeup.notify()), once per commit however often asked (a job's every task change asks). */
  wakeAfterCommit(wakeup: { notify(): void }): void {
    this.#wakeups.add(wakeup);
    this.#mark();
  }

  #mark(): void {
    this.#marked++;
    // Changes made in this turn of the event loop are written together, right after it, even if
    // nobody waits. Not setTimeout(0): in Deno that fires after about 2 ms, and several commits lie
    // between a submit and the job's end.
    if (this.#writeTimer !== undefined || this.#immediate) return;
    this.#immediate = true;
    setImmediate(() => {
      this.#immediate = false;
      if (this.#writeTimer !== undefined || this.#stopped) return;
      this.flush().catch(() => {
        if (this.pending) this.#retryLater();
      });
    });
  }

  /** After a failed write, try again later (writes marked meanwhile wait for it too). */
  #retryLater(): void {
    if (this.#stopped) return;
    this.#writeTimer ??= this.#clock.setTimeout(() => {
      this.#writeTimer = undefined;
      this.flush().then(() => this.#retry.reset(), () => this.#retryLater());
    }, this.#retry.next());
  }

  /** Stop the background writes (the store is closing). */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
  }

  /**
   * This writer's tracker no longer leads: nothing more is written, and every flush (those waiting
   * now too) fails with `error`. What was not written is dropped: nobody was told it was durable.
   */
  abandon(error: Error): void {
    if (this.#abandoned) return;
    this.stop();
    this.#abandoned = error;
    for (const reject of this.#waiting) reject(error);
    this.#waiting.clear();
    for (const refused of this.#staged.values()) refused(error, []);
    this.#staged.clear();
  }

  get pending(): boolean {
    return this.#marked > this.#committed;
  }

  /** Resolves when everything marked before the call is durable; rejects if the store fails. */
  flush(): Promise<void> {
    if (this.#abandoned) return Promise.reject(this.#abandoned);
    if (this.#committed >= this.#marked) return Promise.resolve();
    // A write may hang (a store cut off without a word): an abandoned writer's callers are answered at once.
    return new Promise((resolve, reject) => {
      this.#waiting.add(reject);
      this.#flush().then(resolve, reject).finally(() => this.#waiting.delete(reject));
    });
  }

  async #flush(): Promise<void> {
    const target = this.#marked;
    while (this.#committed < target) {
      if (this.#writing) {
        await this.#writing.catch(() => {});
        continue;
      }
      this.#writing = this.#writeDirty();
      try {
        await this.#writing;
      } finally {
        this.#writing = null;
      }
    }
  }

  async #writeDirty(): Promise<void> {
    const upTo = this.#marked;
    const batch = this.#records.take();
    const callbacks = this.#callbacks;
    const wakeups = this.#wakeups;
    this.#callbacks = [];
    this.#wakeups = new Set();
    try {
      if (this.#abandoned) throw this.#abandoned;
      await this.#write(batch);
    } catch (error) {
      // New jobs staged in it are refused (nothing of them is kept); the rest is kept for the next
      // flush, and records changed since are newer and win.
      const refused = refuseJobs(batch, this.#records, this.#staged);
      this.#records.restore(batch);
      this.#callbacks = callbacks.concat(this.#callbacks);
      for (const wakeup of this.#wakeups) wakeups.add(wakeup);
      this.#wakeups = wakeups;
      this.#onError(error);
      for (const id of refused) {
        const tell = this.#staged.get(id)!;
        this.#staged.delete(id);
        tell(error, batch.audit.filter((entry) => entry.target === id));
      }
      throw error;
    }
    for (const job of batch.newJobs) this.#staged.delete(job.id);
    this.#committed = Math.max(this.#committed, upTo);
    for (const callback of callbacks) callback();
    // After the callbacks: a notify only settles promises, so nothing can tell the order.
    for (const wakeup of wakeups) wakeup.notify();
  }
}
