/** Following a job until it ends (or a deadline passes), riding out a tracker restart, saying why tasks wait. */
import { type FabricClient, TrackerUnreachableError } from "../client/mod.ts";
import { type Clock, sleep, systemClock } from "../protocol/clock.ts";
import { FabricError } from "../protocol/errors.ts";
import type { JobSummary, WaitingNote } from "../protocol/mod.ts";
import { RetryBackoff, type RetryPolicy } from "../protocol/retry.ts";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const OUTAGE_LIMIT_MS = 120_000;
/** Waits between tries while the tracker cannot be reached (jittered: see protocol/retry.ts). */
const WATCH_RETRY: RetryPolicy = { initialMs: 250, maxMs: 2000 };
/** How long one watch waits for a change when nothing else is due. */
const WATCH_MS = 25_000;
/** Once asked, how often the reasons are asked again (they change without the job changing). */
const REASONS_EVERY_MS = 5_000;

export function jobEnded(job: JobSummary): boolean {
  return TERMINAL.has(job.state);
}

export interface WatchOptions {
  /** The version the submit answered: the first answer is then the first change, not the job as submitted. */
  since?: number;
  onChange?: (job: JobSummary) => void;
  /** The tracker went away (a message) or is back (null). */
  onOutage?: (message: string | null) => void;
  /**
   * Why the job's tasks wait: asked once it has been watched `reasonsAfterMs`, then every few
   * seconds until it ends. A job that ends sooner never asks (the tracker does not sum them up).
   */
  onWaiting?: (notes: WaitingNote[]) => void;
  reasonsAfterMs?: number;
  /** Give up at this time (ms since the epoch): the result then has `ended: false`. */
  deadline?: number;
  clock?: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
}

export interface WatchResult {
  /** The job as last seen (null only when the tracker never answered before the deadline). */
  job: JobSummary | null;
  ended: boolean;
}

/** Follows the job until it ends or `deadline` passes. */
export async function watchUntilDone(
  client: Pick<FabricClient, "watchJob">,
  jobId: string,
  options: WatchOptions = {},
): Promise<WatchResult> {
  const clock = options.clock ?? systemClock;
  const backoff = new RetryBackoff(WATCH_RETRY, options.random);
  const started = clock.now();
  const deadline = options.deadline ?? Infinity;
  let since = options.since ?? 0;
  let last: JobSummary | null = null;
  let reasonsAt = options.onWaiting ? started + (options.reasonsAfterMs ?? 0) : Infinity;
  let outageSince: number | null = null;
  for (;;) {
    const now = clock.now();
    if (now >= deadline) return { job: last, ended: false };
    const reasons = now >= reasonsAt;
    // Reasons are answered at once (the job may not change for a long time); otherwise the wait ends
    // when something is due: the next reasons, or the deadline.
    const waitMs = reasons ? 0 : Math.max(0, Math.ceil(Math.min(WATCH_MS, deadline - now, reasonsAt - now)));
    let job;
    try {
      job = await client.watchJob(jobId, since, { waitMs, reasons });
      if (outageSince !== null) options.onOutage?.(null);
      outageSince = null;
      backoff.reset();
    } catch (error) {
      // A tracker that cannot reach the leader answers 503 (a takeover is under way): an outage too.
      const unavailable = error instanceof FabricError && error.code === "unavailable";
      if (!(error instanceof TrackerUnreachableError) && !unavailable) throw error;
      if (outageSince === null) {
        outageSince = clock.now();
        options.onOutage?.(error.message);
      }
      if (clock.now() - outageSince > OUTAGE_LIMIT_MS) throw error;
      await sleep(clock, Math.max(0, Math.min(backoff.next(), deadline - clock.now())));
      continue;
    }
    const { waiting, ...summary } = job;
    last = summary;
    if (summary.version !== since) options.onChange?.(summary);
    since = summary.version;
    if (jobEnded(summary)) return { job: summary, ended: true };
    if (reasons) {
      reasonsAt = now + REASONS_EVERY_MS;
      options.onWaiting?.(waiting ?? []);
    }
  }
}
