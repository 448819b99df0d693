import assert from "node:assert/strict";
import type { AttemptView, LogChunk, TaskDetail } from "../../src/protocol/mod.ts";
import { checkAll } from "./checker.ts";
import { checkRecovery, checkReplacements } from "./checks_faults.ts";
import { checkLogs, checkOutputs, checkTerminalStates } from "./checks_outcome.ts";
import { checkCancel, checkLostResults, checkOverlaps } from "./checks_runs.ts";
import type { CheckInput, FaultRecord, JobPlan, ObservedJob, Run, TemplatePlan } from "./model.ts";
import { buildRuns, parseRunLines } from "./runs.ts";
import { hadOpportunity, reachableAfter, stopDeadline } from "./windows.ts";

const T = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T + ms).toISOString();

function template(kind: TemplatePlan["kind"], fields: Partial<TemplatePlan> = {}): TemplatePlan {
  return { name: kind, kind, count: 1, retries: 0, backoffMs: 0, lines: 2, sleepMs: 0, needs: null, ...fields };
}

function attempt(n: number, fields: Partial<AttemptView> & { assigned: number; finished?: number }): AttemptView {
  const { assigned, finished, ...rest } = fields;
  return {
    attempt: n,
    agent: "a1",
    state: "succeeded",
    exitCode: 0,
    signal: null,
    reason: null,
    assignedAt: at(assigned),
    startedAt: at(assigned + 10),
    finishedAt: finished === undefined ? null : at(finished),
    ...rest,
  };
}

function chunks(stdout: string, attemptNo = 1): LogChunk[] {
  return [{ seq: 0, stream: "stdout", data: stdout, attempt: attemptNo, at: T }];
}

interface TaskSpec {
  kind?: TemplatePlan["kind"];
  attempts: AttemptView[];
  chunks?: LogChunk[];
  output?: unknown;
}

/** One job of one template; each task is given its attempts (the last one decides its state). */
function job(tasks: TaskSpec[], plan: Partial<JobPlan> = {}, cancelAckAt: number | null = null): ObservedJob {
  const kind = tasks[0]?.kind ?? "short";
  const t = template(kind, { count: tasks.length });
  return {
    submitted: {
      plan: {
        name: "j",
        templates: [t],
        submitAtMs: 0,
        cancelAfterStarts: null,
        cancelDelayMs: 0,
        cancelWithCli: false,
        lostAfterMs: null,
        ...plan,
      },
      jobId: "j",
      submittedAt: T,
      cancelAckAt: cancelAckAt === null ? null : T + cancelAckAt,
    },
    state: cancelAckAt !== null
      ? "cancelled"
      : tasks.some((t) => t.attempts.at(-1)?.state === "failed")
      ? "failed"
      : "succeeded",
    tasks: tasks.map((spec, i) => {
      const last = spec.attempts.at(-1);
      const detail = {
        id: `j.${i}`,
        jobId: "j",
        name: kind,
        template: kind,
        index: i,
        state: last?.state ?? "cancelled",
        attempt: last?.attempt ?? 1,
        agent: last?.agent ?? null,
        reason: null,
        attempts: spec.attempts,
        output: spec.output ?? null,
      } as unknown as TaskDetail;
      return { detail, chunks: spec.chunks ?? [] };
    }),
  };
}

function run(taskId: string, n: number, start: number, lastSeen: number, fields: Partial<Run> = {}): Run {
  return {
    id: `${taskId}#${n}#${start}`,
    taskId,
    attempt: n,
    agent: "a1",
    start: T + start,
    lastSeen: T + lastSeen,
    end: T + lastSeen,
    status: "ok",
    ...fields,
  };
}

function fault(kind: FaultRecord["kind"], start: number, end: number, agent: string | null = "a1"): FaultRecord {
  return { kind, agent, start: T + start, end: T + end, mode: "refuse", recovered: true, recoveredAt: T + end + 100 };
}

function input(jobs: ObservedJob[], runs: Run[] = [], faults: FaultRecord[] = []): CheckInput {
  return { jobs, runs, faults, ttlMs: 1500, graceMs: 1000 };
}

const SHORT_LOG = "short j.0\nline 1\nline 2\n";

Deno.test("a clean run passes every invariant", () => {
  const clean = job([{ attempts: [attempt(1, { assigned: 0, finished: 500 })], chunks: chunks(SHORT_LOG) }]);
  const results = checkAll(input([clean], [run("j.0", 1, 20, 480)]));
  assert.deepEqual(results.filter((r) => !r.pass).map((r) => r.problems), []);
});

Deno.test("a task left running, or ended otherwise than its kind implies, fails invariant 1", () => {
  const running = job([{ attempts: [attempt(1, { assigned: 0, state: "running" })] }]);
  assert.match(checkTerminalStates(input([running])).problems.join("\n"), /is running, not ended/);
  const failed = job([{ attempts: [attempt(1, { assigned: 0, finished: 10, state: "failed", exitCode: 1 })] }]);
  assert.match(checkTerminalStates(input([failed])).problems.join("\n"), /ended failed .*expected succeeded/);
});

Deno.test("an always-failing task must fail retries + 1 times, each after its backoff", () => {
  const failures = (gap: number) =>
    job([{
      kind: "failing",
      attempts: [
        attempt(1, { assigned: 0, finished: 100, state: "failed", exitCode: 3 }),
        attempt(2, { assigned: 100 + gap, finished: 200 + gap, state: "failed", exitCode: 3 }),
      ],
      chunks: chunks("failing attempt 2\n", 2),
    }], { templates: [template("failing", { retries: 1, backoffMs: 500 })] });
  assert.equal(checkTerminalStates(input([failures(600)])).pass, true);
  assert.match(
    checkTerminalStates(input([failures(200)])).problems.join("\n"),
    /placed 200ms after failure 1, backoff 500ms/,
  );
});

Deno.test("a gap in the chunk numbers or a cut-short output fails invariant 2", () => {
  const gap: LogChunk[] = [
    { seq: 0, stream: "stdout", data: "short j.0\n", attempt: 1, at: T },
    { seq: 2, stream: "stdout", data: "line 1\nline 2\n", attempt: 1, at: T },
  ];
  const withGap = job([{ attempts: [attempt(1, { assigned: 0, finished: 50 })], chunks: gap }]);
  assert.match(checkLogs(input([withGap])).problems.join("\n"), /chunk 1 has seq 2/);
  const cutShort = job([{
    attempts: [attempt(1, { assigned: 0, finished: 50 })],
    chunks: chunks("short j.0\nline 1\n"),
  }]);
  assert.match(checkLogs(input([cutShort])).problems.join("\n"), /stdout differs at character 17/);
});

Deno.test("a succeeded output task without the output of its final attempt fails invariant 3", () => {
  const tasks = (output: unknown) =>
    job([{ kind: "output", attempts: [attempt(1, { assigned: 0, finished: 50 })], output }]);
  assert.equal(checkOutputs(input([tasks({ task: "j.0", attempt: 1, agent: "a1", index: 0 })])).pass, true);
  assert.equal(checkOutputs(input([tasks(null)])).pass, false);
  assert.equal(checkOutputs(input([tasks({ task: "j.0", attempt: 2, agent: "a1", index: 0 })])).pass, false);
});

Deno.test("after a cancel only a placement already on its way may start, and everything stops", () => {
  const cancelled = (assigned: number) =>
    job([{ kind: "long", attempts: [attempt(1, { assigned, finished: 5000, state: "cancelled" })] }], {}, 1000);
  // Placed before the cancel, started just after it, stopped within the grace period: in flight.
  const inFlight = checkCancel(input([cancelled(900)], [run("j.0", 1, 1200, 1800, { end: null, status: null })]));
  assert.equal(inFlight.pass, true);
  assert.equal(inFlight.counts?.inFlightStartsAfterCancel, 1);
  // Placed after the cancel.
  assert.match(checkCancel(input([cancelled(1100)])).problems.join("\n"), /placed at .* after the cancel/);
  // Still ticking long after the cancel, with nothing in the way of the stop order.
  const ticking = checkCancel(input([cancelled(0)], [run("j.0", 1, 100, 9000, { end: null, status: null })]));
  assert.match(ticking.problems.join("\n"), /still ran 8000ms after the cancel/);
  // The same, but its agent was cut off until 8000: it could not hear the order before.
  const cut = [fault("cut_long", 900, 8000)];
  assert.equal(checkCancel(input([cancelled(0)], [run("j.0", 1, 100, 9000, { end: null })], cut)).pass, true);
});

Deno.test("two attempts may overlap only when the first was lost before the second was placed", () => {
  const pair = (lostAt: number, placed: number) =>
    job([{
      attempts: [
        attempt(1, { assigned: 0, finished: lostAt, state: "lost", reason: "agent a1 stopped heartbeating" }),
        attempt(2, { assigned: placed, finished: 3000, agent: "a2" }),
      ],
    }]);
  const runs = [run("j.0", 1, 10, 2500, { end: null, status: null }), run("j.0", 2, 2100, 2900, { agent: "a2" })];
  const cut = [fault("cut_long", 100, 2400)];
  const allowed = checkOverlaps(input([pair(2000, 2050)], runs, cut));
  assert.equal(allowed.pass, true, allowed.problems.join("\n"));
  assert.equal(allowed.counts?.duplicatesAcrossExpiredLeases, 1);
  assert.match(checkOverlaps(input([pair(2060, 2050)], runs, cut)).problems.join("\n"), /overlap/);
});

Deno.test("the same attempt running twice at once fails invariant 5; one after the other is a re-run", () => {
  const one = job([{ attempts: [attempt(1, { assigned: 0, finished: 3000 })] }]);
  const together = [run("j.0", 1, 10, 1000, { id: "x" }), run("j.0", 1, 500, 1500, { id: "y" })];
  assert.match(checkOverlaps(input([one], together)).problems.join("\n"), /ran twice at once/);
  const apart = [run("j.0", 1, 10, 400, { id: "x", end: null }), run("j.0", 1, 500, 1500, { id: "y" })];
  assert.equal(checkOverlaps(input([one], apart)).counts?.rerunsOfTheSameAttempt, 1);
});

Deno.test("a result the agent had before it restarted is lost; one ended just before a kill is in flight", () => {
  const restarted = job([{
    attempts: [
      attempt(1, {
        assigned: 0,
        finished: 4000,
        state: "lost",
        reason: "agent a1: the agent restarted and no longer runs it",
      }),
      attempt(2, { assigned: 4100, finished: 5000 }),
    ],
  }]);
  const kill = (start: number) => [fault("kill_agent", start, 3900)];
  const lost = checkLostResults(input([restarted], [run("j.0", 1, 10, 500)], kill(2500)));
  assert.equal(lost.counts?.lostResults, 1);
  assert.match(lost.problems[0], /did not deliver it/);
  const inFlight = checkLostResults(input([restarted], [run("j.0", 1, 10, 500)], kill(800)));
  assert.equal(inFlight.pass, true);
  assert.equal(inFlight.counts?.resultsInFlightAtAKill, 1);
  // A run that ended while its agent was dead (it outlived the kill) could not be delivered either.
  const outlived = checkLostResults(input([restarted], [run("j.0", 1, 10, 3000)], kill(2500)));
  assert.equal(outlived.pass, true);
  assert.equal(outlived.counts?.resultsInFlightAtAKill, 1);
});

Deno.test("a result produced while cut off, before the attempt was replaced, is refused as stale", () => {
  const replaced = job([{
    attempts: [
      attempt(1, { assigned: 0, finished: 5000, state: "lost", reason: "agent a1 stopped heartbeating" }),
      attempt(2, { assigned: 5100, finished: 6000, agent: "a2" }),
    ],
  }]);
  const during = checkLostResults(input([replaced], [run("j.0", 1, 10, 700)], [fault("cut_long", 500, 5500)]));
  assert.equal(during.pass, true);
  assert.equal(during.counts?.resultsRefusedAsStale, 1);
  // With no cut, the agent could have delivered it for seconds before the loss.
  const reachable = checkLostResults(input([replaced], [run("j.0", 1, 10, 700)]));
  assert.equal(reachable.counts?.lostResults, 1);
});

Deno.test("a short cut must replace nothing, and a lostAfter longer than a long cut keeps the task", () => {
  const lostAt = (ms: number) =>
    job([{
      attempts: [
        attempt(1, { assigned: 0, finished: ms, state: "lost", reason: "agent a1 stopped heartbeating" }),
        attempt(2, { assigned: ms + 10, finished: ms + 500, agent: "a2" }),
      ],
    }], { lostAfterMs: 9000 });
  assert.match(
    checkReplacements(input([lostAt(1700)], [], [fault("cut_short", 1000, 1300)])).problems.join("\n"),
    /during a short cut/,
  );
  assert.match(checkReplacements(input([lostAt(1700)])).problems.join("\n"), /with no fault on its agent/);
  assert.match(
    checkReplacements(input([lostAt(2600)], [], [fault("cut_long", 1000, 4000)])).problems.join("\n"),
    /lostAfter \(9000ms\) outlasts/,
  );
  // Lost just after a kill that follows the cut closely: the kill is the cause, not the cut.
  const cutThenKill = [fault("cut_long", 1000, 4000), fault("kill_agent", 4900, 5090)];
  assert.equal(checkReplacements(input([lostAt(5100)], [], cutThenKill)).pass, true);
  const withoutLostAfter = job([{ attempts: [attempt(1, { assigned: 0, finished: 6000 })] }]);
  assert.match(
    checkReplacements(input([withoutLostAfter], [], [fault("cut_long", 1000, 4000)])).problems.join("\n"),
    /across cut_long .* yet not replaced/,
  );
});

Deno.test("a fault the fleet did not recover from fails invariant 7", () => {
  const stuck = { ...fault("kill_tracker", 0, 1000, null), recovered: false, recoveredAt: null };
  assert.match(checkRecovery(input([], [], [stuck])).problems[0], /not recovered after kill_tracker tracker/);
});

Deno.test("disruptions: when an agent can next reach the tracker, and whether it could in between", () => {
  const faults = [
    fault("cut_long", 1000, 3000),
    fault("kill_tracker", 3000, 4000, null),
    fault("cut_short", 0, 200, "a2"),
  ];
  assert.equal(reachableAfter(faults, "a1", T + 1500), T + 4000);
  assert.equal(reachableAfter(faults, "a1", T + 500), T + 500);
  assert.equal(reachableAfter(faults, "a2", T + 100), T + 200);
  assert.equal(hadOpportunity(faults, "a1", { start: T + 500, end: T + 4500 }, 600), false);
  assert.equal(hadOpportunity(faults, "a1", { start: T + 500, end: T + 5000 }, 600), true);
  // A stop sent at 900 cannot take effect before the cut that begins at 1000 ends.
  assert.equal(stopDeadline(faults, "a1", T + 900, 500), T + 4500);
});

Deno.test("with several trackers, the leader's or a follower's loss and a PostgreSQL restart disrupt every agent", () => {
  const faults = [
    { ...fault("kill_leader", 1000, 2000, null), tracker: 2 },
    { ...fault("kill_follower", 3000, 3500, null), tracker: 3 },
    fault("restart_store", 5000, 6000, null),
  ];
  for (const agent of ["a1", "a2"]) {
    assert.equal(reachableAfter(faults, agent, T + 1500), T + 2000);
    assert.equal(reachableAfter(faults, agent, T + 3100), T + 3500);
    assert.equal(reachableAfter(faults, agent, T + 5500), T + 6000);
  }
  // None of them is a cause for replacing work: a task lost then fails invariant 8.
  const lost = job([{ attempts: [attempt(1, { assigned: 0, finished: 1800, state: "lost" })], chunks: [] }]);
  assert.match(checkReplacements(input([lost], [], faults)).problems[0], /with no fault on its agent/);
  assert.match(checkRecovery(input([], [], [{ ...faults[0], recovered: false }])).problems[0], /kill_leader tracker-2/);
});

Deno.test("run lines become runs, told apart by their run id", () => {
  const text = [
    `start j.0 1 a1 ${T} r1 `,
    `tick j.0 1 a1 ${T + 250} r1 `,
    `start j.0 1 a1 ${T + 300} r2 `,
    `end j.0 1 a1 ${T + 400} r2 ok`,
    "garbage",
  ].join("\n");
  const parsed = parseRunLines(text);
  assert.deepEqual(parsed.malformed, ["garbage"]);
  const runs = buildRuns(parsed.lines);
  assert.deepEqual(runs.map((r) => [r.start - T, r.lastSeen - T, r.status]), [[0, 250, null], [300, 400, "ok"]]);
});
