/**
 * Delivery of task events, in order, at least once. Each event goes to the journal on disk first,
 * then out in batches; it leaves the journal only when the tracker has acknowledged it, so a tracker
 * that is away, or an agent that crashed, loses nothing. Events of an attempt the tracker calls
 * stale are skipped (still in order, so the journal's acknowledgements stay in order too).
 */
import type { FabricClient } from "../client/mod.ts";
import {
  type Assignment,
  attemptKey,
  type AttemptRef,
  type Clock,
  FabricError,
  RetryBackoff,
  type RetryPolicy,
  sleep,
  type TaskEvent,
  type TimerId,
} from "../protocol/mod.ts";
import type { Journal } from "./journal.ts";
import { OutputPacing } from "./output_pacing.ts";
import { takeBatch } from "./report_batch.ts";

export interface ReporterOptions {
  /** What sends a batch (the tracker's client). */
  client: Pick<FabricClient, "reportJson">;
  journal: Journal;
  clock: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
  /** Events a previous run journaled and the tracker never acknowledged. */
  backlog: TaskEvent[];
  /**
   * While the tracker is away, past this many undelivered bytes task output is refused (results
   * never are). While it takes reports, running tasks are held back well before (see `paceOutput`).
   */
  maxJournalBytes: number;
  /** Wait for the disk before sending a result (it then survives this machine's power loss). */
  syncResults: boolean;
  onStale: (ref: AttemptRef) => void;
  /**
   * Whether the agent has work of its own waiting: its reports' answers (more work) are not awaited
   * then, so events may gather for a moment and travel together.
   */
  busy?: () => boolean;
  /** New work that came with a report's answer. */
  onAssignments: (assignments: Assignment[]) => void;
  log: (message: string) => void;
}

/**
 * `started` is not urgent (`finished` implies it): alone in the queue it waits up to this long, and a
 * task that ends meanwhile costs one report, not two.
 */
const STARTED_DELAY_MS = 200;
/** How long events of a busy agent gather before they go (a report per few tasks, not per task). */
const BUSY_LINGER_MS = 10;
/** Waits between tries while the tracker does not take reports. */
const REPORT_RETRY: RetryPolicy = { initialMs: 100, maxMs: 2000 };

export class Reporter {
  #queue: TaskEvent[];
  /** Each queued event as JSON text, made once for the journal and sent as is. */
  #json: string[];
  #options: ReporterOptions;
  #stale = new Set<string>();
  #wake: (() => void) | null = null;
  #idle: Array<() => void> = [];
  #stopped = false;
  /** Aborted by `stop`: ends a wait between tries. */
  #stopAbort = new AbortController();
  #failing = false;
  /**
   * After the tracker refused a report of several events as malformed, the events of that report
   * still at the head of the queue go one at a time: one bad event must not take the others'
   * results with it.
   */
  #alone = 0;
  /** Holds running tasks' output back while reports wait to go, or refuses it (see `hasRoom`, `paceOutput`). */
  #pacing: OutputPacing;

  constructor(options: ReporterOptions) {
    this.#options = options;
    this.#queue = [...options.backlog];
    this.#json = this.#queue.map((event) => JSON.stringify(event));
    this.#pacing = new OutputPacing(options, () => this.#failing || this.#stopped);
  }

  /** Journal and queue an event. Output is refused (false) while the journal is over its bound, unless forced. */
  enqueue(event: TaskEvent, force = false): boolean {
    if (event.type === "output" && !force && !this.hasRoom()) return false;
    const json = JSON.stringify(event);
    this.#options.journal.appendJson([json]);
    this.#queue.push(event);
    this.#json.push(json);
    this.#wake?.();
    return true;
  }

  /** Whether task output is taken now (see OutputPacing's `hasRoom`). */
  hasRoom(): boolean {
    return this.#pacing.hasRoom();
  }

  /** Whether a running task's output should wait before more is read (see OutputPacing's `paceOutput`). */
  paceOutput(): Promise<void> | null {
    return this.#pacing.paceOutput();
  }

  /** Whether events now wait a moment for others (the agent is busy) rather than go out at once. */
  get gathering(): boolean {
    return this.#options.busy?.() ?? false;
  }

  /** Attempts with events not yet acknowledged. */
  pendingAttempts(): AttemptRef[] {
    const seen = new Map<string, AttemptRef>();
    for (const e of this.#queue) {
      const key = attemptKey(e);
      if (!this.#stale.has(key)) seen.set(key, { taskId: e.taskId, attempt: e.attempt });
    }
    return [...seen.values()];
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Resolves true once the queue is empty, or false after `ms`. */
  drained(ms: number): Promise<boolean> {
    if (this.#queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.#options.clock.setTimeout(() => resolve(this.#queue.length === 0), ms);
      this.#idle.push(() => {
        this.#options.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#stopAbort.abort();
    this.#wake?.();
    this.#pacing.release();
  }

  async run(): Promise<void> {
    const { clock } = this.#options;
    const backoff = new RetryBackoff(REPORT_RETRY, this.#options.random);
    while (!this.#stopped) {
      if (this.#queue.length === 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
        await this.#nextEvent(null);
        continue;
      }
      if (this.#queue.every((e) => e.type === "started")) {
        const wait = STARTED_DELAY_MS - (clock.now() - this.#queue[0].at);
        if (wait > 0 && !this.#stopped) {
          await this.#nextEvent(wait);
          continue;
        }
      }
      if (this.gathering) {
        const wait = BUSY_LINGER_MS - (clock.now() - this.#queue[0].at);
        if (wait > 0 && !this.#stopped) {
          await this.#nextEvent(wait);
          continue;
        }
      }
      const { count, events } = takeBatch(this.#queue, this.#json, { stale: this.#stale, alone: this.#alone });
      try {
        if (events.length > 0) {
          // The journal is written before anything is sent, so it survives the agent's crash; with
          // syncResults a result also survives this machine's power loss once the tracker has it.
          const results = this.#queue.slice(0, count).some((e) => e.type === "finished" || e.type === "released");
          if (this.#options.syncResults && results) {
            await this.#options.journal.sync();
          }
          const response = await this.#options.client.reportJson(events);
          for (const ref of response.stale) this.#markStale(ref);
          if (response.assignments?.length) this.#options.onAssignments(response.assignments);
        }
        if (this.#failing) this.#options.log("the tracker takes reports again");
        this.#failing = false;
        this.#forget(count);
        backoff.reset();
      } catch (error) {
        if (error instanceof FabricError && error.code === "bad_request") {
          this.#refused(count, events, error.message);
          continue;
        }
        if (!this.#failing) {
          this.#options.log(`cannot deliver reports (${(error as Error).message}); keeping them and retrying`);
        }
        this.#failing = true;
        this.#pacing.release();
        // New events do not cut the wait short (the tracker is what is awaited); a stop does.
        await sleep(clock, backoff.next(), this.#stopAbort.signal);
      }
    }
  }

  /**
   * A report the tracker can never take would block everything behind it. Several events: send them
   * one at a time to find the bad one. One event: a result goes again once as a bare failure that
   * says why (the task must end somewhere), anything else is dropped.
   */
  #refused(count: number, sent: string[], message: string): void {
    if (sent.length > 1) {
      this.#options.log(
        `the tracker rejects a report of ${sent.length} events (${message}); sending them one at a time`,
      );
      this.#alone = count;
      return;
    }
    const index = this.#json.indexOf(sent[0]);
    const head = index >= 0 && index < count ? this.#queue[index] : null;
    const failure = head?.type === "finished" && head.result.kind !== "failed_to_start" ? head : null;
    if (failure) {
      this.#options.log(
        `the tracker rejects the result of task ${failure.taskId} attempt ${failure.attempt} (${message}); ` +
          "reporting it as failed instead",
      );
      const clipped = message.length > 300 ? `${message.slice(0, 300)}…` : message;
      const bare: TaskEvent = {
        type: "finished",
        taskId: failure.taskId,
        attempt: failure.attempt,
        at: failure.at,
        durationMs: Number.isFinite(failure.durationMs) && failure.durationMs >= 0 ? failure.durationMs : 0,
        result: { kind: "failed_to_start", message: `the tracker refused this task's result: ${clipped}` },
      };
      this.#queue[index] = bare;
      this.#json[index] = JSON.stringify(bare);
      return;
    }
    this.#options.log(`dropping ${count} event(s) the tracker rejects: ${message}`);
    this.#forget(count);
  }

  /** The oldest `count` events are delivered (or given up): out of the queue and the journal. */
  #forget(count: number): void {
    this.#alone = Math.max(0, this.#alone - count);
    this.#queue.splice(0, count);
    this.#json.splice(0, count);
    this.#options.journal.ack(count);
    this.#pacing.release();
  }

  /** Resolves on the next enqueued event (or stop), or after `ms`. */
  #nextEvent(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      const { clock } = this.#options;
      let timer: TimerId | undefined;
      const done = () => {
        clock.clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      if (ms !== null) timer = clock.setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #markStale(ref: AttemptRef): void {
    this.#stale.add(attemptKey(ref));
    this.#options.onStale(ref);
  }
}
