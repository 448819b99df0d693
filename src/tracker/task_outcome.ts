/**
 * What an agent's final report on an attempt means for the task: pure rules, no state. The result
 * gives the state; a succeeded task whose output is unusable failed; a task being cancelled that did
 * not succeed is cancelled; a failure is retried while the template's retries last.
 */
import { backoffDelay, type EffectiveTask, type TaskResult, type TaskState } from "../protocol/mod.ts";
import type { FinishReport } from "./entries.ts";

export interface Outcome {
  state: TaskState;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
}

/** The task's state after `report`; `stopRequested`: a cancel asked the agent to stop it. */
export function finishOutcome(report: FinishReport, stopRequested: boolean): Outcome {
  const outcome = resultOutcome(report.result);
  let { state, reason } = outcome;
  if (state === "succeeded" && report.outputError !== undefined) {
    state = "failed";
    reason = report.outputError;
  } else if (state === "succeeded" && report.output !== undefined && !isJson(report.output)) {
    state = "failed";
    reason = "$FABRIC_OUTPUT does not hold valid JSON";
  }
  if (stopRequested && state !== "succeeded") {
    state = "cancelled";
    reason = "cancelled";
  }
  return { ...outcome, state, reason };
}

/** The wait before the next attempt after the `failures`-th failure, or null when the retries are used up. */
export function retryDelay(effective: Pick<EffectiveTask, "retries" | "backoff">, failures: number): number | null {
  return failures <= effective.retries ? backoffDelay(effective.backoff, failures) : null;
}

function resultOutcome(result: TaskResult): Outcome {
  switch (result.kind) {
    case "exited":
      return { state: result.code === 0 ? "succeeded" : "failed", exitCode: result.code, signal: null, reason: null };
    case "signaled":
      return { state: "failed", exitCode: null, signal: result.signal, reason: `killed by ${result.signal}` };
    case "timed_out":
      return { state: "failed", exitCode: null, signal: null, reason: "timed_out" };
    case "oom":
      return { state: "failed", exitCode: null, signal: "SIGKILL", reason: "oom" };
    case "disk":
      return { state: "failed", exitCode: null, signal: "SIGKILL", reason: "disk" };
    case "cancelled":
      return { state: "cancelled", exitCode: null, signal: null, reason: "cancelled" };
    case "failed_to_start":
      return { state: "failed", exitCode: null, signal: null, reason: `failed to start: ${result.message}` };
  }
}

/** Whether `text` parses as JSON. */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
