/** Every invariant over one run's observations, and the summary a user reads. */
import { checkRecovery, checkReplacements, describeFault } from "./checks_faults.ts";
import { checkLogs, checkOutputs, checkTerminalStates } from "./checks_outcome.ts";
import { checkCancel, checkLostResults, checkOverlaps } from "./checks_runs.ts";
import type { CheckInput, CheckResult, FaultKind } from "./model.ts";

export function checkAll(input: CheckInput): CheckResult[] {
  return [
    checkTerminalStates(input),
    checkLogs(input),
    checkOutputs(input),
    checkCancel(input),
    checkOverlaps(input),
    checkLostResults(input),
    checkRecovery(input),
    checkReplacements(input),
  ];
}

export interface RunFacts {
  /** More than one: several trackers on PostgreSQL. */
  trackers?: number;
  seed: number;
  agents: number;
  slots: number;
  minutes: number;
  lostAfter: boolean;
  malformedRunLines: number;
}

/** Attempts that failed and were followed by another: retries fabric really made. */
export function retriesSeen(input: CheckInput): number {
  let retries = 0;
  for (const job of input.jobs) {
    for (const task of job.tasks) {
      const attempts = task.detail.attempts;
      retries += attempts.filter((a) => a.state === "failed" && attempts.some((b) => b.attempt > a.attempt)).length;
    }
  }
  return retries;
}

export function formatSummary(input: CheckInput, results: CheckResult[], facts: RunFacts, maxProblems = 15): string {
  const counts: Record<string, number> = Object.assign({}, ...results.map((r) => r.counts ?? {}));
  const tasks = input.jobs.reduce((n, j) => n + j.tasks.length, 0);
  const attempts = input.jobs.reduce((n, j) => n + j.tasks.reduce((m, t) => m + t.detail.attempts.length, 0), 0);
  const cancelled = input.jobs.filter((j) => j.submitted.cancelAckAt !== null).length;
  const faults = (kind: FaultKind) => {
    const all = input.faults.filter((f) => f.kind === kind);
    return `${all.filter((f) => f.recovered).length}/${all.length}`;
  };
  const lines = [
    `fabric chaos: seed ${facts.seed}, ${facts.agents} agents x ${facts.slots} slots, ${facts.minutes} min, ` +
    `lostAfter ${facts.lostAfter ? "on" : "off"}`,
    `tasks ${tasks} in ${input.jobs.length} jobs (${cancelled} cancelled mid-run); ${attempts} attempts; ` +
    `${input.runs.length} runs recorded by the tasks${
      facts.malformedRunLines ? `, ${facts.malformedRunLines} malformed run lines` : ""
    }`,
    (facts.trackers ?? 1) > 1
      ? `faults survived (${facts.trackers} trackers on PostgreSQL): agent kills ${faults("kill_agent")}, ` +
        `leader kills ${faults("kill_leader")}, follower kills ${faults("kill_follower")}, ` +
        `PostgreSQL restarts ${faults("restart_store")}`
      : `faults survived: agent kills ${faults("kill_agent")}, tracker kills ${faults("kill_tracker")}, ` +
        `cuts long ${faults("cut_long")} short ${faults("cut_short")}`,
    `retries seen ${
      retriesSeen(input)
    }, duplicate runs across expired leases ${counts.duplicatesAcrossExpiredLeases}, ` +
    `re-runs of the same attempt ${counts.rerunsOfTheSameAttempt}, replaced attempts ${counts.replacedAttempts}, ` +
    `kept through a long cut by lostAfter ${counts.keptThroughLongCutByLostAfter}`,
    `lost results ${counts.lostResults} (in flight at a kill ${counts.resultsInFlightAtAKill}, refused as stale ` +
    `${counts.resultsRefusedAsStale}); starts in flight at a cancel ${counts.inFlightStartsAfterCancel}`,
  ];
  results.forEach((result, i) => {
    lines.push(`${result.pass ? "PASS" : "FAIL"} ${i + 1}. ${result.name}`);
    for (const problem of result.problems.slice(0, maxProblems)) lines.push(`       ${problem}`);
    if (result.problems.length > maxProblems) lines.push(`       ... and ${result.problems.length - maxProblems} more`);
  });
  const pass = results.every((r) => r.pass);
  // The faults' times are the evidence a failure is read against.
  if (!pass) lines.push("faults:", ...input.faults.map((f) => `       ${describeFault(f)}`));
  lines.push(`RESULT: ${pass ? "PASS" : "FAIL"} (seed ${facts.seed})`);
  return lines.join("\n");
}
