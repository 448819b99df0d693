/** Following a job until it ends, riding out a tracker restart. */
import { type FabricClient, TrackerUnreachableError } from "../client/mod.ts";
import type { JobSummary } from "../protocol/mod.ts";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const OUTAGE_LIMIT_MS = 120_000;

export function jobEnded(job: JobSummary): boolean {
  return TERMINAL.has(job.state);
}

/**
 * Calls `onChange` on every change of the job after version `since` until it ends; returns its final
 * summary. With the version the submit answered, the first answer is the first change, not the job
 * as it was submitted.
 */
export async function watchUntilDone(
  client: FabricClient,
  jobId: string,
  onChange: (job: JobSummary) => void,
  onOutage?: (message: string | null) => void,
  since = 0,
): Promise<JobSummary> {
  let outageSince: number | null = null;
  for (;;) {
    let job: JobSummary;
    try {
      job = await client.watchJob(jobId, since);
      if (outageSince !== null) onOutage?.(null);
      outageSince = null;
    } catch (error) {
      if (!(error instanceof TrackerUnreachableError)) throw error;
      if (outageSince === null) {
        outageSince = Date.now();
        onOutage?.(error.message);
      }
      if (Date.now() - outageSince > OUTAGE_LIMIT_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    if (job.version !== since) onChange(job);
    since = job.version;
    if (jobEnded(job)) return job;
  }
}
