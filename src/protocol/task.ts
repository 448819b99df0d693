/** Tasks as the tracker reports them, and the result an agent reports for one attempt. */
import { z } from "zod";
import type { TaskKind } from "./job_expand.ts";
import type { ArtifactRef } from "./blob.ts";

export const TASK_STATES = [
  "queued",
  "assigned",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
  "lost",
] as const;
export type TaskState = typeof TASK_STATES[number];

/** `lost` is passing: the task is queued again, or ends `failed` with reason "lost". */
export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "cancelled", "skipped"]);

export function isTerminalTask(state: TaskState): boolean {
  return TERMINAL_TASK_STATES.has(state);
}

/** How one attempt ended, as the agent saw it. */
export const taskResultSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("exited"), code: z.number().int() }),
  z.object({ kind: z.literal("signaled"), signal: z.string() }),
  z.object({ kind: z.literal("timed_out") }),
  /** Killed for going over its memory limit. */
  z.object({ kind: z.literal("oom") }),
  /** Killed for writing more than its disk limit (`resources.disk`) into its directory. */
  z.object({ kind: z.literal("disk") }),
  z.object({ kind: z.literal("cancelled") }),
  z.object({ kind: z.literal("failed_to_start"), message: z.string() }),
]);
export type TaskResult = z.infer<typeof taskResultSchema>;

/** A task in `status` output. Keys are camelCase and stable: scripts read them. */
export interface TaskView {
  id: string;
  jobId: string;
  name: string;
  template: string;
  kind: TaskKind;
  /** The add-on an `addon` task uses, `NAME@VERSION`; absent for other kinds. */
  uses?: string;
  index: number;
  matrix: Record<string, string> | null;
  /** false when the task opted out of the sandbox (`sandbox: false`). */
  sandbox: boolean;
  state: TaskState;
  attempt: number;
  agent: string | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  outputTruncated: boolean;
}

/** One attempt of a task: where it ran and how it ended. */
export interface AttemptView {
  attempt: number;
  agent: string;
  state: TaskState;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  assignedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TaskDetail extends TaskView {
  attempts: AttemptView[];
  /** The JSON the task wrote to $FABRIC_OUTPUT, if any. */
  output: unknown;
  needs: string[];
  /** The files its latest attempt left that `artifacts:` keeps. */
  artifacts: ArtifactRef[];
}
