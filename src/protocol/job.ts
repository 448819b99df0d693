/** Jobs on the wire: submission, summaries and detail. */
import { z } from "zod";
import { MAX_SCRIPT_BYTES } from "./limits.ts";
import { jobSignatureSchema } from "./signing.ts";
import { blobRefSchema } from "./blob.ts";
import { textSchema } from "./text.ts";
import type { TaskState, TaskView } from "./task.ts";

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = typeof JOB_STATES[number];

/** The body of `POST /v1/jobs`: the job file as JSON; the tracker validates it again. */
export const submitJobRequestSchema = z.object({
  spec: z.unknown(),
  source: textSchema().max(4096).optional(),
  /** Script files named by `script:` keys, read on the submitter's machine: path -> content. */
  files: z.record(textSchema().max(1024), textSchema(MAX_SCRIPT_BYTES)).default({}),
  /** The packs of `files:` the submitter uploaded (blob.ts), by the name of the task (spec) that starts with them. */
  packs: z.record(z.string().max(256), blobRefSchema).default({}),
  /** `fabric submit --sign`: the signature of `signedPayload(spec, files)` (signing.ts). */
  signature: jobSignatureSchema.optional(),
});
export type SubmitJobRequest = z.infer<typeof submitJobRequestSchema>;

export interface SubmitJobResponse {
  jobId: string;
  name: string;
  tasks: number;
  /** The job's version as submitted: a watch from here waits for its first change. */
  version: number;
}

/** `POST /v1/jobs/:id/rerun`: the job's file again; `failed`: only what did not succeed. */
export const rerunJobRequestSchema = z.strictObject({ failed: z.boolean().optional() });

export interface RerunJobResponse extends SubmitJobResponse {
  /** The job this one reruns. */
  rerunOf: string;
  /** Its tasks that succeeded there and are not run again (rerun --failed). */
  carried: number;
}

export type TaskCounts = Record<TaskState, number>;

export function emptyCounts(): TaskCounts {
  return { queued: 0, assigned: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0, lost: 0 };
}

/** A periodic job's run's link back to it (a job's `periodic` field; periodic.ts). */
export interface PeriodicLink {
  name: string;
  /** The scheduled time it is the run for (a `fabric periodic run` run: the time it was asked). */
  scheduledAt: string;
}

export interface JobSummary {
  id: string;
  name: string;
  state: JobState;
  /** True while a cancel is waiting for running tasks to stop. */
  cancelling: boolean;
  counts: TaskCounts;
  total: number;
  createdAt: string;
  finishedAt: string | null;
  /** Grows on every change of the job or its tasks; `watch` waits for it to move. */
  version: number;
  /** The public key that signed the job (`fabric submit --sign`), or null. */
  signedBy: string | null;
  /** The name of the token that submitted the job (null for jobs older than named tokens). */
  submittedBy: string | null;
  /** A periodic job's run: the periodic job and the time it is the run for; null for any other job. */
  periodic: PeriodicLink | null;
}

/** Why some of a job's tasks have not started: one note per distinct reason. */
export interface WaitingNote {
  /** As `fabric status JOB` gives it for each of these tasks. */
  reason: string;
  /** How many tasks wait for it. */
  tasks: number;
  /** One of them: its id and name. */
  example: { id: string; name: string };
  /**
   * No current agent could ever run them, busy or not (a capability, label or size none has):
   * they wait for an agent that can to join.
   */
  noAgent: boolean;
  /** What would let them run, when fabric knows. */
  hint: string | null;
}

/** A watch's answer; with `reasons`, why its waiting tasks wait (at most a few notes, the worst first). */
export interface JobWatch extends JobSummary {
  waiting?: WaitingNote[];
}

export interface JobDetail extends JobSummary {
  tasks: TaskView[];
}

/** A job with a page of its tasks (`GET /v1/jobs/:id?state=&name=&offset=&limit=`). */
export interface JobTasksPage extends JobDetail {
  /** How many tasks match in all; with a name glob, how many were seen before the page filled. */
  matched: number;
  /** More matching tasks follow the page. */
  more: boolean;
}

export interface CancelJobResponse {
  jobId: string;
  cancelled: number;
  stopping: number;
}

/** Whether a job in `state` has ended (succeeded, failed or cancelled): nothing of it changes any more. */
export function isTerminalJob(state: JobState): boolean {
  return state !== "queued" && state !== "running";
}

/** A job's state from the states of its tasks. */
export function jobStateFrom(counts: TaskCounts, total: number, cancelRequested: boolean): JobState {
  const terminal = counts.succeeded + counts.failed + counts.cancelled + counts.skipped;
  if (terminal === total) {
    if (cancelRequested || counts.cancelled > 0) return "cancelled";
    // A task is skipped because one it needs failed (which fails the job), or because its condition
    // did not hold (`when: on_failure` after a success), which is no failure of the job.
    return counts.failed > 0 ? "failed" : "succeeded";
  }
  return counts.queued === total ? "queued" : "running";
}
