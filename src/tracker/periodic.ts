/**
 * Periodic jobs: a job file with `schedule:` is kept under its name, and the tracker that leads
 * launches a run of it at each scheduled time. A launch is one fenced write holding the run (an
 * ordinary job, named `NAME@TIME`, linked back) and the periodic job's last scheduled time: a leader
 * that loses its lease writes neither, and the next one, which loads the store when it takes over,
 * sees the time launched or not, never half. So each scheduled time launches at most once, whichever
 * tracker leads, and a time missed while none led is caught up once (periodic_plan.ts).
 *
 * Every change (register, pause, resume, delete, run, a timer's launches) goes through one queue, in
 * order: a launch never races a delete or a replacement of the same periodic job.
 */
import {
  type BlobRef,
  type Clock,
  DEFAULT_CATCH_UP_MS,
  FabricError,
  type JobSpec,
  nextTimes,
  type PeriodicView,
  type RegisterPeriodicResponse,
  type RunPeriodicResponse,
  type SignedJob,
} from "../protocol/mod.ts";
import type { PeriodicRecord, Store } from "../store/mod.ts";
import { type LaunchDeps, launchRun } from "./periodic_launch.ts";
import type { PeriodicLauncher } from "./periodic_launcher.ts";
import { type NoteStreak, noteTime } from "./periodic_notes.ts";
import { plan } from "./periodic_plan.ts";
import { PeriodicTimer } from "./periodic_timer.ts";
import { describePeriodic, periodicView, scheduleOf, upcomingRuns } from "./periodic_views.ts";
import type { Submitter } from "./secret_policy.ts";

/** Periodic jobs a tracker keeps at most: each is looked at on every one of its times. */
export const MAX_PERIODIC = 1000;
/** After a launch the store refused (it is unwell), the time is tried again this much later. */
const RETRY_MS = 1000;

export interface PeriodicOptions {
  store: Store;
  clock: Clock;
  launcher: PeriodicLauncher;
  log: (message: string) => void;
}

interface Entry {
  record: PeriodicRecord;
  /** The next time to look at it (null: never, or paused). */
  next: number | null;
  /** The alike notes in a row so far, and when the note was last written (periodic_notes.ts). */
  streak?: NoteStreak;
}

export class PeriodicJobs {
  #o: PeriodicOptions;
  #entries = new Map<string, Entry>();
  #queue: Promise<unknown> = Promise.resolve();
  #timer: PeriodicTimer;
  #started = false;
  #stopped = false;

  constructor(options: PeriodicOptions) {
    this.#o = options;
    this.#timer = new PeriodicTimer(options.clock);
  }

  /** Where a view finds a periodic job's last run. */
  #find = {
    activeJob: (id: string) => this.#o.launcher.activeJob(id),
    getJob: (id: string) => this.#o.store.getJob(id),
  };

  /** What a launch needs of this object (periodic_launch.ts). */
  #launchDeps(): LaunchDeps {
    return {
      launcher: this.#o.launcher,
      log: this.#o.log,
      note: async (record, at, verb, reason) => (await this.#note(record, at, verb, reason)).note,
      launched: (record) => {
        const current = this.#entries.get(record.name);
        if (current) current.record = record;
      },
    };
  }

  async load(): Promise<void> {
    for (const record of await this.#o.store.loadPeriodic()) {
      this.#entries.set(record.name, { record, next: null });
    }
  }

  /** Launches from now on (the leader's part): times due now are looked at at once. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const entry of this.#entries.values()) entry.next = entry.record.paused ? null : this.#o.clock.now();
    // The moment launches start, for an operator reading what was caught up (and for the tests).
    if (this.#entries.size > 0) this.#o.log(`periodic jobs: ${this.#entries.size} registered, launching from now`);
    this.#arm();
  }

  /** Resolves once every change queued so far (a timer's launches too) is done. */
  async idle(): Promise<void> {
    await this.#queue.catch(() => {});
  }

  /** No more launches; resolves once the change under way is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer.stop();
    await this.#queue.catch(() => {});
  }

  /**
   * Register `spec` (it has `schedule:`) under its name, or replace the one of that name: its job and
   * schedule are the new file's, its paused state and last run stay, and no time before now is caught up.
   */
  register(
    spec: JobSpec,
    options: {
      files: Record<string, string>;
      packs: Record<string, BlobRef>;
      source: string | null;
      signed: SignedJob | null;
      submitter?: Submitter;
      /** Called with the owner of the one it replaces, before anything changes (authorizeOwned). */
      mayReplace?: (owner: string | null) => void;
    },
  ): Promise<RegisterPeriodicResponse> {
    return this.#serial(async () => {
      if (spec.schedule === undefined) throw new FabricError("bad_request", `Job "${spec.name}" has no schedule`);
      const now = this.#o.clock.now();
      const schedule = scheduleOf(spec);
      if (nextTimes(schedule, now, 1).length === 0) {
        throw new FabricError(
          "invalid_job",
          `The job is invalid: "schedule" ${JSON.stringify(spec.schedule)} never fires`,
        );
      }
      const old = this.#entries.get(spec.name);
      if (old) options.mayReplace?.(old.record.submittedBy);
      else if (this.#entries.size >= MAX_PERIODIC) {
        throw new FabricError("conflict", `A tracker keeps at most ${MAX_PERIODIC} periodic jobs; delete one first`);
      }
      this.#o.launcher.checkSecrets(spec, options.submitter);
      await this.#o.launcher.usePacks(spec.name, spec, options.packs);
      const record: PeriodicRecord = {
        name: spec.name,
        spec,
        files: options.files,
        source: options.source,
        signed: options.signed,
        submittedBy: options.submitter?.name ?? null,
        paused: old?.record.paused ?? false,
        createdAt: old?.record.createdAt ?? now,
        updatedAt: now,
        lastScheduledAt: old?.record.lastScheduledAt ?? null,
        lastJobId: old?.record.lastJobId ?? null,
        lastNote: old?.record.lastNote ?? null,
        ...(Object.keys(options.packs).length > 0 ? { packs: options.packs } : {}),
      };
      await this.#o.launcher.save(record);
      this.#set(record);
      this.#o.log(`periodic job ${record.name} ${old ? "replaced" : "registered"} (${describePeriodic(record)})`);
      return { name: record.name, replaced: old !== undefined, nextRuns: upcomingRuns(record, now) };
    });
  }

  /** Every periodic job, by name, with its next times and its last run's state. */
  async list(): Promise<PeriodicView[]> {
    const now = this.#o.clock.now();
    const views: PeriodicView[] = [];
    for (const { record } of [...this.#entries.values()].sort((a, b) => a.record.name.localeCompare(b.record.name))) {
      views.push(await periodicView(record, now, this.#find));
    }
    return views;
  }

  /** The periodic job named `name`, or a not_found FabricError. */
  get(name: string): PeriodicRecord {
    const entry = this.#entries.get(name);
    if (!entry) throw new FabricError("not_found", `No periodic job "${name}" (fabric periodic lists them)`);
    return entry.record;
  }

  pause(name: string): Promise<PeriodicView> {
    return this.#serial(async () => {
      const record = { ...this.get(name), paused: true };
      await this.#o.launcher.save(record);
      this.#set(record);
      this.#o.log(`periodic job ${name} paused`);
      return await periodicView(record, this.#o.clock.now(), this.#find);
    });
  }

  /** Launches again from now: the times it was paused over are not caught up. */
  resume(name: string): Promise<PeriodicView> {
    return this.#serial(async () => {
      const now = this.#o.clock.now();
      const old = this.get(name);
      const record = old.paused ? { ...old, paused: false, updatedAt: now } : old;
      if (old.paused) {
        await this.#o.launcher.save(record);
        this.#set(record);
        this.#o.log(`periodic job ${name} resumed`);
      }
      return await periodicView(record, now, this.#find);
    });
  }

  /** Gone, with no more launches; its runs stay, as ordinary jobs. */
  delete(name: string): Promise<{ name: string; deleted: true }> {
    return this.#serial(async () => {
      this.get(name);
      await this.#o.launcher.remove(name);
      this.#entries.delete(name);
      this.#o.log(`periodic job ${name} deleted`);
      return { name, deleted: true as const };
    });
  }

  /** A run now, once, under the overlap rule (a paused one too: asked for by name); its schedule is untouched. */
  run(name: string): Promise<RunPeriodicResponse> {
    return this.#serial(async () => {
      const record = this.get(name);
      const now = this.#o.clock.now();
      const outcome = await launchRun(record, now, { scheduled: false }, this.#launchDeps());
      if (outcome.kind === "launched") {
        return { name, launched: { jobId: outcome.jobId, name: outcome.name }, skipped: null };
      }
      if (outcome.kind === "skipped") return { name, launched: null, skipped: outcome.note };
      throw new FabricError(outcome.code, outcome.note);
    });
  }

  // ---- the leader's timer ----------------------------------------------------------------------

  #serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#queue.catch(() => {}).then(body);
    this.#queue = run;
    return run;
  }

  #set(record: PeriodicRecord): void {
    const next = !this.#started || record.paused ? null : this.#o.clock.now();
    this.#entries.set(record.name, { record, next });
    this.#arm();
  }

  /** The timer, for the earliest next time of all (periodic_timer.ts). */
  #arm(): void {
    if (!this.#started || this.#stopped) return;
    let at = Infinity;
    for (const entry of this.#entries.values()) if (entry.next !== null) at = Math.min(at, entry.next);
    this.#timer.arm(at, () => {
      this.#serial(() => this.#due()).catch((error) =>
        this.#o.log(`periodic jobs: ${(error as Error)?.message ?? error}`)
      ).finally(() => this.#arm());
    });
  }

  /** Each periodic job whose next time has come: planned, and launched, skipped or passed over. */
  async #due(): Promise<void> {
    for (const entry of [...this.#entries.values()]) {
      if (this.#stopped) return;
      const now = this.#o.clock.now();
      if (entry.next === null || entry.next > now || entry.record.paused) continue;
      const { record } = entry;
      const decision = plan({
        schedule: scheduleOf(record.spec),
        catchUpMs: record.spec.catchUp ?? DEFAULT_CATCH_UP_MS,
        lastScheduledAt: record.lastScheduledAt,
        since: record.updatedAt,
        now,
      });
      let retry = false;
      if (decision.kind === "missed") {
        const reason = "no tracker led then, and it is more than catchUp late";
        retry = !(await this.#note(record, decision.at, "missed", reason)).written;
      } else if (decision.kind === "launch") {
        const outcome = await launchRun(record, decision.at, { scheduled: true }, this.#launchDeps());
        retry = outcome.kind === "unwritten";
      }
      entry.next = retry ? now + RETRY_MS : decision.next;
    }
  }

  /** The time `at` handled without a run, and why (periodic_notes.ts). */
  #note(record: PeriodicRecord, at: number, verb: string, reason: string): Promise<{ note: string; written: boolean }> {
    return noteTime(record, { at, verb, reason }, {
      entry: (name) => this.#entries.get(name),
      launcher: this.#o.launcher,
      log: this.#o.log,
    });
  }
}
