/** What periodic jobs need of the tracker to launch and keep runs (periodic.ts; the tracker provides it). */
import type { BlobRef, Clock, JobSpec, SignedJob } from "../protocol/mod.ts";
import { type JobRecord, PERIODIC_USE, type PeriodicRecord } from "../store/mod.ts";
import type { Blobs } from "./blobs.ts";
import type { JobIntake } from "./job_intake.ts";
import { type Submitter, TRACKER_ITSELF } from "./secret_policy.ts";
import type { Secrets } from "./secrets.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TokenRegistry } from "./tokens.ts";

/** What launching a run needs from the tracker: the same intake as `fabric submit`. */
export interface PeriodicLauncher {
  /**
   * Submit `spec` as a job named `name`, linked to its periodic job, by `submitter`; `record` is the
   * periodic job as it is to be stored with it, in the same write. The job's id, or a FabricError
   * (its secrets refused, the job no longer valid) that launches nothing.
   */
  launch(
    spec: JobSpec,
    options: {
      name: string;
      files: Record<string, string>;
      packs: Record<string, BlobRef>;
      source: string | null;
      signed: SignedJob | null;
      submitter: Submitter | undefined;
      link: { name: string; scheduledAt: number };
      record: (jobId: string) => PeriodicRecord;
    },
  ): Promise<string>;
  /** A job the tracker holds (one that has not ended), or null. */
  activeJob(jobId: string): JobRecord | null;
  cancel(jobId: string): Promise<void>;
  /** The rights of the token named `name` now: null when no token of that name works (revoked, expired). */
  submitterNamed(name: string): Submitter | null;
  /** Writes the periodic job's record (fenced, as every write) and resolves once it is durable. */
  save(record: PeriodicRecord): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * The packs a periodic job's runs start with, checked against its file and recorded as used under its
   * name (retention keeps them while its record names them): a 400 naming what was not uploaded.
   */
  usePacks(name: string, spec: JobSpec, packs: Record<string, BlobRef>): Promise<void>;
  /** Secrets a job names must be usable by its submitter (secrets.checkJob). */
  checkSecrets(spec: JobSpec, submitter: Submitter | undefined): void;
}

/** The tracker's own launcher: its job intake, its state, its tokens' rights now, its write path. */
export function trackerLauncher(parts: {
  jobs: JobIntake;
  state: FabricState;
  tokens: TokenRegistry;
  clock: Clock;
  writer: StoreWriter;
  secrets: Secrets;
  blobs: Blobs;
}): PeriodicLauncher {
  const { jobs, state, tokens, clock, writer, secrets, blobs } = parts;
  return {
    launch: (spec, o) => jobs.launchPeriodic(spec, o),
    activeJob: (jobId) => state.jobs.get(jobId)?.record ?? null,
    cancel: async (jobId) => void await jobs.cancel(jobId),
    submitterNamed: (name) => tokens.rightsOf(name, clock.now()),
    save: (record) => writer.periodic({ record }),
    remove: (name) => writer.periodic({ deleted: name }),
    usePacks: (name, spec, packs) => blobs.use(PERIODIC_USE + name, spec, packs),
    checkSecrets: (spec, submitter) => secrets.checkJob(spec, submitter ?? TRACKER_ITSELF),
  };
}
