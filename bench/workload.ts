/** What every workload gets (sizes, runs, a scratch directory) and gives back (its figures). */
import type { FabricClient } from "../src/client/mod.ts";
import type { JobSummary } from "../src/protocol/mod.ts";
import type { Figure } from "./report.ts";

export interface BenchContext {
  /** Repetitions of each measurement; figures are their median. */
  runs: number;
  /** Shrink every workload so the whole bench finishes in well under a minute. */
  quick: boolean;
  /** B4 with 1,000,000 tasks instead of 100,000. */
  huge: boolean;
  /** A scratch directory, removed at the end. */
  root: string;
  /** Progress on stderr (the table goes to stdout). */
  log: (message: string) => void;
  /** The store this run measures: SQLite in each tracker's data directory, or PostgreSQL. */
  store: StoreKind;
  /** B3's trackers on PostgreSQL (`--trackers`): 1, or 2 with the fleet split over them. */
  trackers: number;
  /** For a new tracker: a new, empty PostgreSQL database's URL; undefined for SQLite. */
  newStore(): Promise<string | undefined>;
}

export type StoreKind = "sqlite" | "postgres";

export interface WorkloadOutcome {
  figures: Figure[];
  notes: string[];
}

export interface Workload {
  id: string;
  title: string;
  run(context: BenchContext): Promise<WorkloadOutcome>;
}

const ENDED = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Follow a job with the watch long poll until it ends (or `timeoutMs` passes), from the version its
 * submit answered (as `fabric submit --wait` does), or from the start.
 */
export async function waitForJob(
  client: FabricClient,
  jobId: string,
  timeoutMs = 600_000,
  fromVersion = 0,
): Promise<JobSummary> {
  const deadline = Date.now() + timeoutMs;
  let since = fromVersion;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`job ${jobId} did not end within ${timeoutMs} ms`);
    const job = await client.watchJob(jobId, since, { waitMs: Math.min(25_000, left) });
    if (ENDED.has(job.state)) return job;
    since = job.version;
  }
}

/** Throws unless the job succeeded: a figure of a failed job would measure the wrong thing. */
export function assertSucceeded(job: JobSummary): void {
  if (job.state !== "succeeded") {
    throw new Error(`job ${job.id} ended ${job.state}: ${JSON.stringify(job.counts)}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Seconds since `start` (a `performance.now()` value). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
