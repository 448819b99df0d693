/**
 * The agent's side of the protocol. An agent keeps one claim open (a long poll) to learn what to run
 * and what to stop, and sends what happened as ordered batches of events.
 */
import { z } from "zod";
import { artifactRefSchema, MAX_TASK_ARTIFACTS } from "./blob.ts";
import type { Assignment } from "./assignment.ts";
import { logChunkSchema } from "./log.ts";
import { taskResultSchema } from "./task.ts";

/** The identity of one attempt of one task: the fencing token of every report. */
export const attemptRefSchema = z.object({
  taskId: z.string().min(1).max(128),
  attempt: z.number().int().min(1),
});
export type AttemptRef = z.infer<typeof attemptRefSchema>;

/** One attempt of one task as a key, for sets and maps of attempts. */
export function attemptKey(ref: AttemptRef): string {
  return `${ref.taskId}#${ref.attempt}`;
}

export const claimRequestSchema = z.object({
  /** Attempts the agent already has: they are not sent again. */
  holding: z.array(attemptRefSchema).max(100_000),
  /** How long the tracker may hold the request when there is nothing to say. */
  waitMs: z.number().int().min(0).max(60_000),
});
export type ClaimRequest = z.infer<typeof claimRequestSchema>;

export interface ClaimResponse {
  assignments: Assignment[];
  /** Attempts the agent must stop: cancelled, or no longer its own. */
  stop: AttemptRef[];
}

export const taskEventSchema = z.discriminatedUnion("type", [
  attemptRefSchema.extend({ type: z.literal("started"), at: z.number() }),
  attemptRefSchema.extend({ type: z.literal("output"), at: z.number(), chunks: z.array(logChunkSchema).min(1) }),
  attemptRefSchema.extend({
    type: z.literal("finished"),
    at: z.number(),
    result: taskResultSchema,
    durationMs: z.number().min(0),
    /** What the task wrote to $FABRIC_OUTPUT (JSON text). */
    output: z.string().max(1024 * 1024).optional(),
    outputTruncated: z.boolean().optional(),
    /** Why the $FABRIC_OUTPUT file could not be taken (too large, not JSON): the task fails. */
    outputError: z.string().max(1000).optional(),
    /** The files it left that `artifacts:` keeps, each stored as a blob before this event was sent. */
    artifacts: z.array(artifactRefSchema).max(MAX_TASK_ARTIFACTS).optional(),
  }),
  /**
   * The agent gives the attempt back without a result and the task is queued again: `handed_back`
   * when it stops or drains (not held against the task), `lost` when it restarted without it.
   */
  attemptRefSchema.extend({
    type: z.literal("released"),
    at: z.number(),
    reason: z.string().max(500),
    how: z.enum(["handed_back", "lost"]).default("handed_back"),
  }),
]);
export type TaskEvent = z.infer<typeof taskEventSchema>;

export const reportRequestSchema = z.object({ events: z.array(taskEventSchema).min(1).max(10_000) });
export type ReportRequest = z.infer<typeof reportRequestSchema>;

export interface ReportResponse {
  /** Attempts the tracker no longer accepts reports for: the agent stops them and drops their events. */
  stale: AttemptRef[];
  /** New work for the slots the reported tasks freed: one round trip less per task. */
  assignments: Assignment[];
}
