/**
 * Jobs coming in and going away at a caller's word: a submission, a rerun of a stored job, a cancel.
 * A submission the store refuses leaves no trace, so that a client that tries again never ends up
 * with the job twice: a large job is stored in a write of its own before anything is placed; a small
 * one is stored with its placement, and taken back out of memory if that write fails (#accept).
 */
import {
  type BlobRef,
  type CancelJobResponse,
  type Clock,
  FabricError,
  isTerminalJob,
  type JobSignature,
  type JobSpec,
  type SignedJob,
  type SubmitJobResponse,
} from "../protocol/mod.ts";
import type { PeriodicRecord, Store, TaskRecord } from "../store/mod.ts";
import {
  carryOver,
  expandForAgents,
  instanceKey,
  jobRecords,
  parseSubmission,
  signedSubmission,
} from "./job_records.ts";
import { checkAddonParameters } from "./addon_parameters.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";
import type { Blobs } from "./blobs.ts";
import type { Scheduling } from "./scheduling.ts";
import { type Submitter, TRACKER_ITSELF } from "./secret_policy.ts";
import type { Secrets } from "./secrets.ts";
import { forEachSliced } from "./slices.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";
import type { JobEntry } from "./entries.ts";
import { errorCode } from "./audit.ts";

/** The most tasks of a job staged with its placement (StoreWriter.stageJob); a larger one is stored alone first. */
const STAGED_TASKS = 64;

export interface JobIntakeOptions {
  state: FabricState;
  store: Store;
  writer: StoreWriter;
  tasks: TaskLifecycle;
  scheduling: () => Scheduling;
  secrets: Secrets;
  /** Files shipped with jobs: a job's packs are checked and recorded as used before it is stored. */
  blobs: Blobs;
  metrics: TrackerMetrics;
  clock: Clock;
  newId: () => string;
  /** Every change so far durable (the tracker's flush, which also tracks the store's health). */
  flush: () => Promise<void>;
  log: (message: string) => void;
}

export interface SubmitOptions {
  source?: string | null;
  files?: Record<string, string>;
  /** The packs of `files:` uploaded for it (blobs.ts), by task name. */
  packs?: Record<string, BlobRef>;
  signature?: JobSignature;
  /**
   * The client token that submits it, recorded with the job, whose rights to the job's secrets are
   * checked. Absent: the tracker's own caller in this process (a test), which records no submitter and
   * may use any secret, as the admin may; every API request names one.
   */
  submitter?: Submitter;
  /**
   * Told the job's id once it is stored and placed, before the write of its placement, which the
   * answer waits for: what is recorded now (the submission's audit entry) is durable with it, before
   * the answer, and costs no write of its own.
   */
  stored?: (jobId: string) => void;
}

/** A periodic job's run: its name, its link back, and the periodic job as it is stored with it. */
interface PeriodicLaunch {
  name: string;
  link: { name: string; scheduledAt: number };
  record: (jobId: string) => PeriodicRecord;
}

export class JobIntake {
  #o: JobIntakeOptions;

  constructor(options: JobIntakeOptions) {
    this.#o = options;
  }

  /** A submission validated, with its files and its signature checked. */
  async parse(
    spec: unknown,
    options: SubmitOptions = {},
  ): Promise<{ parsed: JobSpec; files: Record<string, string>; signed: SignedJob | null }> {
    const files = options.files ?? {};
    const parsed = parseSubmission(spec, files);
    await checkAddonParameters(parsed, this.#o.state.agents.values());
    const signed = options.signature
      ? await signedSubmission(spec, files, options.signature, options.packs ?? {})
      : null;
    return { parsed, files, signed };
  }

  async submit(spec: unknown, options: SubmitOptions = {}): Promise<SubmitJobResponse> {
    const { parsed, files, signed } = await this.parse(spec, options);
    if (parsed.schedule !== undefined) {
      throw new FabricError(
        "invalid_job",
        `Job "${parsed.name}" has a schedule: it is registered as a periodic job (POST /v1/periodic, as fabric ` +
          "submit does), not run now",
      );
    }
    return await this.#accept(parsed, {
      source: options.source ?? null,
      files,
      packs: options.packs ?? {},
      signed,
      submitter: options.submitter,
      stored: options.stored,
    });
  }

  /**
   * `fabric rerun`: a job's stored file as a new job, submitted by `submitter` (whose rights to the
   * job's secrets are checked now, as for a new submission). With `failedOnly`,
   * what succeeded is carried over as succeeded (its output too, for what needs it) and only the
   * rest runs: failed, lost, skipped and cancelled tasks. The stored spec is taken as it was
   * validated at its submission (it is not a job file any more: its durations are milliseconds).
   */
  async rerun(
    jobId: string,
    options: { failedOnly: boolean; submitter: Submitter },
  ): Promise<SubmitJobResponse & { rerunOf: string; carried: number }> {
    const { state, store } = this.#o;
    await this.#o.flush();
    const active = state.jobs.get(jobId);
    const old = active?.record ?? await store.getJob(jobId);
    if (!old) throw new FabricError("not_found", `No job "${jobId}"`);
    let carried: ReadonlyMap<string, TaskRecord> = new Map();
    if (options.failedOnly) {
      if (!isTerminalJob(old.state)) {
        throw new FabricError("conflict", `Job ${jobId} has not ended: rerun --failed takes an ended job`);
      }
      // A job that succeeded had no task failed, lost or cancelled; what it skipped was skipped by a
      // need's condition (`on_failure` after a success), and would be skipped again.
      if (old.state === "succeeded") {
        throw new FabricError(
          "conflict",
          `Job ${jobId} succeeded: it has no failed, lost, skipped or cancelled task to run again (a task it skipped did not meet its needs' conditions)`,
        );
      }
      const previous = active ? active.tasks.map((t) => t.record) : await store.listTasks(jobId);
      // In slices: the records are only read, each as it is at its turn (an active job's task may end meanwhile).
      const succeeded = new Map<string, TaskRecord>();
      await forEachSliced(previous, (t) => {
        if (t.state === "succeeded") succeeded.set(instanceKey(t), t);
      });
      carried = succeeded;
      if (carried.size === previous.length) {
        throw new FabricError("conflict", `Job ${jobId} has no failed, lost, skipped or cancelled task to run again`);
      }
    }
    const submitted = await this.#accept(old.spec, {
      source: old.source,
      files: old.files,
      packs: old.packs ?? {},
      signed: old.signed,
      submitter: options.submitter,
      carried,
      rerunOf: jobId,
    });
    return { ...submitted, rerunOf: jobId, carried: carried.size };
  }

  /**
   * A periodic job's run (periodic.ts): `spec` as a job named `options.name`, linked back, stored in one
   * write with the periodic job's record as `options.record` gives it; the job's id.
   */
  async launchPeriodic(
    spec: JobSpec,
    options: PeriodicLaunch & {
      files: Record<string, string>;
      packs: Record<string, BlobRef>;
      source: string | null;
      signed: SignedJob | null;
      submitter: Submitter | undefined;
    },
  ): Promise<string> {
    return (await this.#accept(spec, { ...options, periodic: options })).jobId;
  }

  async cancel(jobId: string): Promise<CancelJobResponse> {
    const job = this.#o.state.jobs.get(jobId);
    if (!job) {
      await this.#o.flush();
      if (!(await this.#o.store.getJob(jobId))) throw new FabricError("not_found", `No job "${jobId}"`);
      return { jobId, cancelled: 0, stopping: 0 };
    }
    const result = await this.#o.tasks.cancel(job);
    await this.#o.flush();
    this.#o.log(`job ${jobId} cancel requested: ${result.cancelled} cancelled, ${result.stopping} stopping`);
    return { jobId, ...result };
  }

  async #accept(
    parsed: JobSpec,
    options: {
      source: string | null;
      files: Record<string, string>;
      packs: Record<string, BlobRef>;
      signed: SignedJob | null;
      /** Absent: the tracker's own caller (see SubmitOptions). */
      submitter?: Submitter;
      carried?: ReadonlyMap<string, TaskRecord>;
      rerunOf?: string;
      periodic?: PeriodicLaunch;
      stored?: (jobId: string) => void;
    },
  ): Promise<SubmitJobResponse> {
    const { state, writer, metrics, clock } = this.#o;
    this.#o.secrets.checkJob(parsed, options.submitter ?? TRACKER_ITSELF);
    // Decided now (the agents as they are), the tasks then made in slices; placed nowhere until the job
    // is indexed whole (state.addJob), and answered to nobody (its submitter, an agent) until it is stored.
    const expansion = expandForAgents(state.agents.values(), parsed, { signedBy: options.signed?.publicKey ?? null });
    const { job, tasks } = await jobRecords(parsed, {
      jobId: this.#o.newId(),
      now: clock.now(),
      source: options.source,
      files: options.files,
      packs: options.packs,
      signed: options.signed,
      submittedBy: options.submitter?.name ?? null,
      expansion,
    });
    if (options.carried && options.carried.size > 0) await carryOver(job, tasks, options.carried, options.rerunOf!);
    await this.#o.blobs.use(job.id, parsed, options.packs);
    if (options.periodic) {
      job.name = options.periodic.name;
      job.periodic = options.periodic.link;
    }
    // A small job is staged: written in one commit with its placement and its audit entry (one commit
    // fewer on a submit's path: ~1 ms on PostgreSQL); if that commit fails the job is taken back out of
    // memory at once, and its audit entry says how the submission ended, as the route would have.
    // Small: its entries are made without a turn of the event loop (slices.ts looks at the clock every
    // 128 steps), so the staging and the placement land in one commit; a commit between them stores the
    // job alone first, and a refusal then is taken back here. A larger job, a periodic job's run (with
    // the time it is for, both or neither) and a rerun are stored alone, before the scheduler sees them.
    const staged = tasks.length <= STAGED_TASKS && !options.periodic && !options.carried?.size;
    const refusal: { error?: unknown } = {};
    let entry: JobEntry | null = null;
    if (staged) {
      writer.stageJob(job, tasks, (error, audit) => {
        refusal.error = error;
        for (const record of audit) Object.assign(record, { target: null, outcome: errorCode(error) });
        if (entry) this.#o.tasks.discard(entry);
      });
    } else await writer.insertJob(job, tasks, options.periodic?.record(job.id));
    entry = await state.addJob(job, tasks, (entry, slices) => this.#o.tasks.queueJob(entry, slices));
    if ("error" in refusal) {
      this.#o.tasks.discard(entry);
      throw refusal.error;
    }
    // Its ready tasks are placed at once, so that the version its submitter watches from already
    // counts the placement (the watch then waits for the tasks' progress, not for their being placed).
    this.#o.scheduling().now();
    // The placement is written before the answer, not after it: an agent gets an assignment only once
    // it is stored, so this way its claim is answered first and the task starts ~0.3 ms sooner (the
    // submitter's next request, its watch, is not waiting for the answer's few extra microseconds). A
    // store that fails now has a job stored alone already; the writer retries the placement by itself.
    options.stored?.(job.id);
    await this.#o.flush().catch((error) => {
      if (staged) throw "error" in refusal ? refusal.error : error;
    });
    metrics.jobsSubmitted.inc();
    metrics.tasksSubmitted.inc(tasks.length);
    const from = options.rerunOf ? ` (a rerun of ${options.rerunOf})` : "";
    this.#o.log(`job ${job.id} (${job.name}) submitted with ${tasks.length} task(s)${from}`);
    return { jobId: job.id, name: job.name, tasks: tasks.length, version: job.version };
  }
}
