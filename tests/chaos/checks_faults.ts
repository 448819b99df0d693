/**
 * Invariants on the faults themselves: the fleet came back after each one (7), and work was
 * replaced only where a fault says it should be (8): a kill or a cut longer than the TTL replaces
 * what its agent ran (unless the task's `lostAfter` outlasts the cut), a short cut replaces nothing.
 */
import { attemptTime } from "./checks_outcome.ts";
import { indexTasks } from "./checks_runs.ts";
import type { CheckInput, CheckResult, FaultRecord } from "./model.ts";
import { faultAround, iso } from "./windows.ts";

/** After a fault ends, the tracker may still need a TTL and a liveness tick to act on it. */
const SETTLE_MS = 3000;
/** A `lostAfter` this much longer than a cut must keep the task through it. */
export const KEEP_MARGIN_MS = 3000;
/** An attempt placed or finished this close to a cut's start may have been settled before it. */
const EDGE_MS = 300;

export function describeFault(f: FaultRecord): string {
  const target = f.agent ??
    (f.tracker ? `tracker-${f.tracker}` : f.kind === "restart_store" ? "PostgreSQL" : "tracker");
  return `${f.kind} ${target} ${iso(f.start)}..${iso(f.end)} (${f.end - f.start}ms${
    f.kind.startsWith("cut") ? `, ${f.mode}` : ""
  })`;
}

/** 7: after every fault, the tracker answered and every agent was ready again. */
export function checkRecovery(input: CheckInput): CheckResult {
  const problems = input.faults.filter((f) => !f.recovered).map((f) => `not recovered after ${describeFault(f)}`);
  return { name: "every fault was survived", pass: problems.length === 0, problems };
}

/** 8: every replaced attempt has a cause; short cuts and long-enough lostAfter keep tasks in place. */
export function checkReplacements(input: CheckInput): CheckResult {
  const problems: string[] = [];
  let replaced = 0;
  let keptThroughCut = 0;
  const budget = input.ttlMs + SETTLE_MS;
  const index = indexTasks(input);
  for (const { job, task } of index.values()) {
    const lostAfter = job.submitted.plan.lostAfterMs;
    for (const attempt of task.detail.attempts) {
      const say = (what: string) =>
        problems.push(`task ${task.detail.id} attempt ${attempt.attempt} on ${attempt.agent}: ${what}`);
      const assigned = attemptTime(attempt.assignedAt)!;
      const finished = attemptTime(attempt.finishedAt);
      if (attempt.state === "lost") {
        replaced++;
        const at = finished!;
        const cause = faultAround(input.faults, attempt.agent, at, ["kill_agent", "cut_long"], budget);
        if (!cause) {
          const short = faultAround(input.faults, attempt.agent, at, ["cut_short"], budget);
          say(
            `lost at ${iso(at)} (${attempt.reason ?? ""}) ${
              short ? `during a short cut: ${describeFault(short)}` : "with no fault on its agent"
            }`,
          );
        } else if (
          cause.kind === "cut_long" && lostAfter !== null && lostAfter > cause.end - cause.start + KEEP_MARGIN_MS
        ) {
          say(`lost at ${iso(at)} although its lostAfter (${lostAfter}ms) outlasts ${describeFault(cause)}`);
        }
        continue;
      }
      // Not lost: it must not have been active on an agent across a long cut it could not outlast.
      for (const cut of input.faults) {
        if (cut.kind !== "cut_long" || cut.agent !== attempt.agent) continue;
        // A result dated inside the cut could not be delivered before the TTL ran out; a cancel could
        // end the attempt meanwhile, but only before the tracker gave up on the agent.
        const settledBy = attempt.state === "cancelled" ? cut.start + budget : cut.start + EDGE_MS;
        const active = assigned < cut.start - EDGE_MS && (finished === null || finished > settledBy);
        if (!active) continue;
        const duration = cut.end - cut.start;
        if (lostAfter !== null && lostAfter > duration + KEEP_MARGIN_MS) keptThroughCut++;
        else if (lostAfter === null || lostAfter < duration - KEEP_MARGIN_MS) {
          say(`was ${attempt.state} across ${describeFault(cut)}, longer than the TTL, yet not replaced`);
        }
      }
    }
  }
  return {
    name: "work was replaced only where a fault says so",
    pass: problems.length === 0,
    problems,
    counts: { replacedAttempts: replaced, keptThroughLongCutByLostAfter: keptThroughCut },
  };
}
