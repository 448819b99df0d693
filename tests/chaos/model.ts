/** The data the chaos harness plans, records and checks: plain values, so the checker is pure. */
import type { LogChunk, TaskDetail, TaskState } from "../../src/protocol/mod.ts";

/**
 * What a task does, and so what the checker expects of it:
 * - short, long, big, output, flaky, consumer: succeed (long ones tick while they run, big ones
 *   print megabytes, output ones write $FABRIC_OUTPUT, flaky ones fail their first attempt,
 *   consumers read the outputs of the task they need);
 * - failing: fails every attempt, so it ends `failed` after `retries + 1` failures;
 * - dependent: needs a failing task, so it ends `skipped` without running.
 */
export type TaskKind = "short" | "long" | "big" | "output" | "flaky" | "consumer" | "failing" | "dependent";

export interface TemplatePlan {
  name: string;
  kind: TaskKind;
  count: number;
  retries: number;
  backoffMs: number;
  /** short: lines printed; long: ticks (250ms apart); big: lines of BIG_LINE_WIDTH characters. */
  lines: number;
  /** short tasks: how long they sleep. */
  sleepMs: number;
  /** consumer, dependent: the template they need. */
  needs: string | null;
}

export interface JobPlan {
  name: string;
  templates: TemplatePlan[];
  /** When to submit, from the start of the workload. */
  submitAtMs: number;
  /** Cancel once this many of its tasks have started (null: never cancelled). */
  cancelAfterStarts: number | null;
  /** ...and this much later, so that they are cancelled mid-run. */
  cancelDelayMs: number;
  /** Through `fabric cancel` (a CLI process) instead of the API client. */
  cancelWithCli: boolean;
  lostAfterMs: number | null;
}

export interface SubmittedJob {
  plan: JobPlan;
  jobId: string;
  submittedAt: number;
  /** When the tracker answered the cancel (epoch ms); null if never cancelled. */
  cancelAckAt: number | null;
}

export type FaultKind =
  | "kill_agent"
  | "kill_tracker"
  | "cut_long"
  | "cut_short"
  // With several trackers on PostgreSQL:
  | "kill_leader"
  | "kill_follower"
  | "restart_store";

/** Faults of the control plane, not of one agent: every agent may be unable to report during them. */
export const CONTROL_PLANE_FAULTS: readonly FaultKind[] = [
  "kill_tracker",
  "kill_leader",
  "kill_follower",
  "restart_store",
];

export interface FaultPlan {
  kind: FaultKind;
  /** How long to wait, once the fleet is healthy again after the previous fault. */
  gapMs: number;
  /** The agent, for all but kill_tracker. */
  agent: string | null;
  /** How long the process stays dead or the agent cut off. */
  downMs: number;
  mode: "refuse" | "blackhole";
  /** A seeded choice among what is known only when the fault begins (which follower: this modulo their number). */
  pick: number;
}

export interface FaultRecord {
  kind: FaultKind;
  agent: string | null;
  /** With several trackers: the one killed (1-based, as the process names it). */
  tracker?: number;
  /** Epoch ms: the kill or the cut... */
  start: number;
  /** ...and the restart (process started again) or the heal. */
  end: number;
  mode: "refuse" | "blackhole";
  /** The fleet was healthy again (every agent ready) after it. */
  recovered: boolean;
  /** Epoch ms when it was seen healthy again. */
  recoveredAt: number | null;
}

/** A line a task appended to the harness's run file: proof, outside fabric, of when it ran. */
export interface RunLine {
  type: "start" | "tick" | "end";
  taskId: string;
  attempt: number;
  agent: string;
  at: number;
  /** Random per execution of the script. */
  run: string;
  /** end lines: how the task itself ended. */
  status: "ok" | "fail" | null;
}

/** One execution of one attempt, reconstructed from its lines. */
export interface Run {
  id: string;
  taskId: string;
  attempt: number;
  agent: string;
  start: number;
  /** The last sign of life: its end line, or its last tick. */
  lastSeen: number;
  end: number | null;
  status: "ok" | "fail" | null;
}

export interface ObservedTask {
  detail: TaskDetail;
  /** Chunks of the final attempt's log, as the logs API returned them. */
  chunks: LogChunk[];
}

export interface ObservedJob {
  submitted: SubmittedJob;
  state: string;
  tasks: ObservedTask[];
}

export interface CheckInput {
  jobs: ObservedJob[];
  runs: Run[];
  faults: FaultRecord[];
  ttlMs: number;
  graceMs: number;
}

export interface CheckResult {
  name: string;
  pass: boolean;
  problems: string[];
  /** What the check counted on the way (duplicates, lost results...), for the summary. */
  counts?: Record<string, number>;
}

export const TERMINAL: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "cancelled", "skipped"]);
