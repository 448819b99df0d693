/**
 * Periodic jobs on the wire (`fabric periodic`, /v1/periodic): a job file with `schedule:` is
 * registered under its name, and each of its runs is an ordinary job named `NAME@TIME`.
 */
import type { JobState } from "./job.ts";
export type { PeriodicLink } from "./job.ts";
import type { Overlap } from "./schedule.ts";

export interface PeriodicRun {
  jobId: string;
  /** These three are null once the job is gone (retention). */
  name: string | null;
  scheduledAt: string | null;
  state: JobState | null;
}

export interface PeriodicView {
  name: string;
  schedule: string;
  timezone: string;
  overlap: Overlap;
  catchUpMs: number;
  paused: boolean;
  /** The token that registered it: its runs are submitted with its rights. */
  submittedBy: string | null;
  createdAt: string;
  updatedAt: string;
  /** The next scheduled times (none while paused). */
  nextRuns: string[];
  /** The last run launched, and how it is doing. */
  lastRun: PeriodicRun | null;
  /** The last scheduled time the tracker handled (launched, skipped or missed). */
  lastScheduledAt: string | null;
  /** Why the last scheduled time launched nothing (an overlap skip, a missed time, a launch refused), or null. */
  note: string | null;
}

export interface RegisterPeriodicResponse {
  name: string;
  /** A periodic job of this name was there and is replaced (its last run and history stay). */
  replaced: boolean;
  nextRuns: string[];
}

export interface RunPeriodicResponse {
  name: string;
  /** The run launched, or null when the overlap rule skipped it (`skipped` says why). */
  launched: { jobId: string; name: string } | null;
  skipped: string | null;
}
