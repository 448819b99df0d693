/**
 * Invariants on when tasks really ran, from the lines they appended outside fabric, against the
 * attempts fabric recorded: nothing ran after a cancel (4), attempts overlapped only across an
 * expired lease (5), and no result an agent produced went missing (6).
 */
import type { AttemptView } from "../../src/protocol/mod.ts";
import { attemptTime } from "./checks_outcome.ts";
import type { CheckInput, CheckResult, ObservedJob, ObservedTask, Run } from "./model.ts";
import { runsByTask } from "./runs.ts";
import { hadOpportunity, iso, overlaps, stopDeadline } from "./windows.ts";

/** A task's start after a cancel is still "in flight" this long after the cancel was acknowledged. */
export const IN_FLIGHT_MS = 3000;
/** Once an agent can hear a stop order: its claim loop's longest backoff (2s) plus time to act on it. */
export const STOP_SLACK_MS = 4000;
/** A kill this soon after a task's end line may have come before the agent saw the process exit. */
export const KILL_MARGIN_MS = 1000;
/** Connectivity for this long is enough to deliver a report (the reporter's longest backoff is 2s). */
export const DELIVERY_MS = 3000;

export interface TaskEntry {
  job: ObservedJob;
  task: ObservedTask;
  attempts: Map<number, AttemptView>;
}

export function indexTasks(input: CheckInput): Map<string, TaskEntry> {
  const index = new Map<string, TaskEntry>();
  for (const job of input.jobs) {
    for (const task of job.tasks) {
      index.set(task.detail.id, { job, task, attempts: new Map(task.detail.attempts.map((a) => [a.attempt, a])) });
    }
  }
  return index;
}

function describeRun(run: Run): string {
  return `attempt ${run.attempt} on ${run.agent} [${iso(run.start)}..${iso(run.lastSeen)}${run.end ? " end" : ""}]`;
}

/**
 * 4: after the tracker acknowledged a cancel, no attempt was placed; a task started only if its
 * placement was already on its way (placed before the cancel, started within IN_FLIGHT_MS); and
 * everything running stopped once its agent could hear the order (grace + STOP_SLACK_MS).
 */
export function checkCancel(input: CheckInput): CheckResult {
  const problems: string[] = [];
  let inFlight = 0;
  const byTask = runsByTask(input.runs);
  for (const job of input.jobs) {
    const ack = job.submitted.cancelAckAt;
    if (ack === null) continue;
    for (const task of job.tasks) {
      const id = task.detail.id;
      for (const attempt of task.detail.attempts) {
        const assigned = attemptTime(attempt.assignedAt)!;
        if (assigned > ack) {
          problems.push(
            `task ${id}: attempt ${attempt.attempt} placed at ${iso(assigned)}, after the cancel at ${iso(ack)}`,
          );
        }
      }
      for (const run of byTask.get(id) ?? []) {
        if (run.start > ack) {
          const attempt = task.detail.attempts.find((a) => a.attempt === run.attempt);
          const assigned = attempt ? attemptTime(attempt.assignedAt)! : Infinity;
          if (assigned <= ack && run.start <= ack + IN_FLIGHT_MS) inFlight++;
          else problems.push(`task ${id}: ${describeRun(run)} started ${run.start - ack}ms after the cancel`);
        }
        const deadline = stopDeadline(input.faults, run.agent, ack, input.graceMs + STOP_SLACK_MS);
        if (run.lastSeen > deadline) {
          problems.push(
            `task ${id}: ${describeRun(run)} still ran ${run.lastSeen - ack}ms after the cancel at ${iso(ack)}`,
          );
        }
      }
    }
  }
  return {
    name: "no task ran after its job was cancelled",
    pass: problems.length === 0,
    problems,
    counts: { inFlightStartsAfterCancel: inFlight },
  };
}

/**
 * 5: two runs of a task overlap only when the earlier attempt was marked lost before the later one
 * was placed; the same attempt never runs twice at once; and a replaced attempt that was still
 * running stops once its agent can hear so.
 */
export function checkOverlaps(input: CheckInput): CheckResult {
  const problems: string[] = [];
  let duplicates = 0;
  let reruns = 0;
  const index = indexTasks(input);
  for (const [taskId, runs] of runsByTask(input.runs)) {
    const entry = index.get(taskId);
    if (!entry) {
      problems.push(`task ${taskId} ran (${describeRun(runs[0])}) but belongs to no job of this run`);
      continue;
    }
    for (const run of runs) {
      const attempt = entry.attempts.get(run.attempt);
      if (!attempt) {
        problems.push(`task ${taskId}: ${describeRun(run)} ran, but the tracker has no attempt ${run.attempt}`);
      } else if (attempt.agent !== run.agent) {
        problems.push(
          `task ${taskId}: ${describeRun(run)} ran, but attempt ${run.attempt} was placed on ${attempt.agent}`,
        );
      } else if (attempt.state === "lost") {
        const lostAt = attemptTime(attempt.finishedAt)!;
        const deadline = stopDeadline(input.faults, run.agent, lostAt, input.graceMs + STOP_SLACK_MS);
        if (run.lastSeen > deadline) {
          problems.push(
            `task ${taskId}: ${describeRun(run)} still ran ${run.lastSeen - lostAt}ms after it was lost at ${
              iso(lostAt)
            }`,
          );
        }
      }
    }
    for (let i = 0; i < runs.length; i++) {
      for (let j = i + 1; j < runs.length; j++) {
        const [a, b] = [runs[i], runs[j]].sort((x, y) => x.attempt - y.attempt);
        const together = overlaps({ start: a.start, end: a.lastSeen }, { start: b.start, end: b.lastSeen });
        if (a.attempt === b.attempt) {
          if (together) {
            problems.push(
              `task ${taskId}: attempt ${a.attempt} ran twice at once: ${describeRun(a)}, ${describeRun(b)}`,
            );
          } else reruns++;
          continue;
        }
        if (!together) continue;
        const earlier = entry.attempts.get(a.attempt);
        const later = entry.attempts.get(b.attempt);
        const lostAt = earlier?.state === "lost" ? attemptTime(earlier.finishedAt) : null;
        if (lostAt !== null && later && lostAt <= attemptTime(later.assignedAt)!) {
          duplicates++;
        } else {
          problems.push(
            `task ${taskId}: ${describeRun(a)} and ${describeRun(b)} overlap; attempt ${a.attempt} is ` +
              `${earlier?.state ?? "unknown"} (finished ${earlier?.finishedAt ?? "-"}), attempt ${b.attempt} placed ` +
              `${later?.assignedAt ?? "never"}`,
          );
        }
      }
    }
  }
  return {
    name: "no two attempts of a task ran at once, except across an expired lease",
    pass: problems.length === 0,
    problems,
    counts: { duplicatesAcrossExpiredLeases: duplicates, rerunsOfTheSameAttempt: reruns },
  };
}

/**
 * 6: every run that ended (its end line written) has its result recorded on its attempt, unless
 * the attempt was replaced or cancelled before the agent could deliver it (no DELIVERY_MS of
 * connectivity in between), or the agent was killed within KILL_MARGIN_MS of the end, or was dead
 * when it ended (a sandbox started in the last milliseconds before its agent's kill -9 can outlive
 * it: bubblewrap's --die-with-parent takes hold only once bwrap has set it up). A result the
 * tracker refused because the agent restarted is lost: the agent had it, and lost it.
 */
export function checkLostResults(input: CheckInput): CheckResult {
  const problems: string[] = [];
  let lost = 0;
  let inFlight = 0;
  let stale = 0;
  const index = indexTasks(input);
  for (const run of input.runs) {
    if (run.end === null || run.status === null) continue;
    const attempt = index.get(run.taskId)?.attempts.get(run.attempt);
    if (!attempt || attempt.agent !== run.agent) continue; // reported by invariant 5
    const recorded = attempt.state;
    const said = `${describeRun(run)} ended ${run.status} at ${iso(run.end)}`;
    if ((run.status === "ok" && recorded === "succeeded") || (run.status === "fail" && recorded === "failed")) continue;
    if (recorded === "succeeded" || recorded === "failed") {
      problems.push(`task ${run.taskId}: ${said}, but the attempt is recorded ${recorded} (${attempt.reason ?? ""})`);
      continue;
    }
    const killed = input.faults.find((f) =>
      f.kind === "kill_agent" && f.agent === run.agent &&
      ((f.start >= run.end! && f.start <= run.end! + KILL_MARGIN_MS) || (f.start <= run.end! && run.end! <= f.end))
    );
    if (killed) {
      inFlight++;
      continue;
    }
    const endedAt = attemptTime(attempt.finishedAt);
    if (recorded === "lost" && /restart/i.test(attempt.reason ?? "")) {
      lost++;
      problems.push(
        `task ${run.taskId}: ${said}, but after its agent restarted the attempt was lost (${attempt.reason}) at ` +
          `${iso(endedAt)}: the agent had the result and did not deliver it`,
      );
    } else if (endedAt === null) {
      lost++;
      problems.push(`task ${run.taskId}: ${said}, but the attempt is still ${recorded}`);
    } else if (endedAt <= run.end + KILL_MARGIN_MS) {
      stale++;
    } else if (
      hadOpportunity(input.faults, run.agent, { start: run.end + KILL_MARGIN_MS, end: endedAt }, DELIVERY_MS)
    ) {
      lost++;
      problems.push(
        `task ${run.taskId}: ${said}; its agent could reach the tracker, yet the attempt ended ${recorded} at ` +
          `${iso(endedAt)} (${attempt.reason ?? ""})`,
      );
    } else {
      stale++;
    }
  }
  return {
    name: "lost results = 0",
    pass: problems.length === 0,
    problems,
    counts: { lostResults: lost, resultsInFlightAtAKill: inFlight, resultsRefusedAsStale: stale },
  };
}
