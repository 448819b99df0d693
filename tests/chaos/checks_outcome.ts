/**
 * Invariants on what fabric reports at the end: every task ended once and as its kind implies
 * (1), the final attempt's log is whole (2), and the outputs tasks wrote are stored (3).
 */
import { isDeepStrictEqual } from "node:util";
import type { AttemptView, TaskState } from "../../src/protocol/mod.ts";
import { type CheckInput, type CheckResult, type ObservedJob, type ObservedTask, TERMINAL } from "./model.ts";
import type { TemplatePlan } from "./model.ts";
import { expectedLog, expectedOutput } from "./task_scripts.ts";

const SUCCEEDING = new Set(["short", "long", "big", "output", "flaky", "consumer"]);
/** The tracker's clock and the agent's may round differently by a millisecond or two. */
const BACKOFF_TOLERANCE_MS = 50;

export function templateOf(job: ObservedJob, task: ObservedTask): TemplatePlan | undefined {
  return job.submitted.plan.templates.find((t) => t.name === task.detail.template);
}

export function attemptTime(value: string | null): number | null {
  return value === null ? null : Date.parse(value);
}

/** 1: every job ended; every task has one terminal state, consistent with its attempts and its kind. */
export function checkTerminalStates(input: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const job of input.jobs) {
    const { plan, jobId, cancelAckAt } = job.submitted;
    if (!TERMINAL_JOB.has(job.state)) problems.push(`job ${jobId} (${plan.name}) is still ${job.state}`);
    const planned = plan.templates.reduce((n, t) => n + t.count, 0);
    if (job.tasks.length !== planned) problems.push(`job ${jobId} has ${job.tasks.length} tasks, ${planned} planned`);
    const expectedJob = cancelAckAt !== null
      ? null
      : plan.templates.some((t) => t.kind === "failing")
      ? "failed"
      : "succeeded";
    if (expectedJob && TERMINAL_JOB.has(job.state) && job.state !== expectedJob) {
      problems.push(`job ${jobId} (${plan.name}) ended ${job.state}, expected ${expectedJob}`);
    }
    for (const task of job.tasks) problems.push(...taskProblems(job, task, cancelAckAt !== null));
  }
  return { name: "every task has exactly one terminal state, every job ended", pass: problems.length === 0, problems };
}

const TERMINAL_JOB = new Set(["succeeded", "failed", "cancelled"]);

function taskProblems(job: ObservedJob, task: ObservedTask, cancelled: boolean): string[] {
  const d = task.detail;
  const problems: string[] = [];
  const say = (what: string) => problems.push(`task ${d.id} (${d.name}): ${what}`);
  if (!TERMINAL.has(d.state)) say(`is ${d.state}, not ended`);
  const attempts = [...d.attempts].sort((a, b) => a.attempt - b.attempt);
  const last = attempts.at(-1);
  attempts.slice(0, -1).forEach((a) => {
    if (a.state !== "failed" && a.state !== "lost") say(`attempt ${a.attempt} is ${a.state} but a later one exists`);
  });
  if (attempts.filter((a) => a.state === "succeeded").length > 1) say("more than one attempt succeeded");
  if (
    last && (d.state === "succeeded" || d.state === "failed") && last.state !== d.state &&
    !/^lost /.test(d.reason ?? "")
  ) {
    say(`ended ${d.state} but its last attempt (${last.attempt}) is ${last.state}`);
  }
  if (/^lost \d+ times/.test(d.reason ?? "")) say(`ran out of lost retries: ${d.reason}`);
  const template = templateOf(job, task);
  if (!template) return [...problems, `task ${d.id}: no planned template "${d.template}"`];
  if (cancelled) return problems;
  const expected: TaskState = SUCCEEDING.has(template.kind)
    ? "succeeded"
    : template.kind === "failing"
    ? "failed"
    : "skipped";
  if (d.state !== expected) say(`ended ${d.state} (${d.reason ?? "no reason"}), expected ${expected}`);
  if (template.kind === "dependent" && attempts.length > 0) say(`was skipped but has ${attempts.length} attempt(s)`);
  if (template.kind === "failing") problems.push(...retryProblems(d.id, template, attempts));
  return problems;
}

/** A task that always fails fails exactly `retries + 1` times, each retry after its backoff. */
function retryProblems(taskId: string, template: TemplatePlan, attempts: AttemptView[]): string[] {
  const problems: string[] = [];
  const failures = attempts.filter((a) => a.state === "failed");
  if (failures.length !== template.retries + 1) {
    problems.push(
      `task ${taskId}: failed ${failures.length} time(s), expected ${
        template.retries + 1
      } (retries ${template.retries})`,
    );
  }
  failures.forEach((failure, k) => {
    const next = attempts.find((a) => a.attempt > failure.attempt);
    const finished = attemptTime(failure.finishedAt);
    const assigned = next ? attemptTime(next.assignedAt) : null;
    if (!next || finished === null || assigned === null) return;
    const delay = Math.min(3000, template.backoffMs * 2 ** k);
    if (assigned - finished < delay - BACKOFF_TOLERANCE_MS) {
      problems.push(
        `task ${taskId}: attempt ${next.attempt} was placed ${assigned - finished}ms after failure ${
          k + 1
        }, backoff ${delay}ms`,
      );
    }
  });
  return problems;
}

/** 2: the final attempt's chunks are numbered 0..n-1, and a task with known output printed all of it. */
export function checkLogs(input: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const job of input.jobs) {
    for (const task of job.tasks) {
      const d = task.detail;
      const seqs = task.chunks.map((c) => c.seq);
      const gap = seqs.findIndex((seq, i) => seq !== i);
      if (gap >= 0) {
        problems.push(
          `task ${d.id} attempt ${d.attempt}: chunk ${gap} has seq ${seqs[gap]} (seqs ${describeSeqs(seqs)})`,
        );
      }
      const foreign = task.chunks.find((c) => c.attempt !== d.attempt);
      if (foreign) {
        problems.push(`task ${d.id}: the log of attempt ${d.attempt} holds a chunk of attempt ${foreign.attempt}`);
      }
      const template = templateOf(job, task);
      const known = d.state === "succeeded" || (d.state === "failed" && template?.kind === "failing");
      if (!template || !known) continue;
      const expected = expectedLog(template, { id: d.id, attempt: d.attempt }, job.submitted.plan.templates);
      if (!expected) continue;
      for (const stream of ["stdout", "stderr"] as const) {
        const actual = task.chunks.filter((c) => c.stream === stream).map((c) => c.data).join("");
        if (actual !== expected[stream]) {
          problems.push(`task ${d.id} attempt ${d.attempt}: ${stream} ${describeDifference(actual, expected[stream])}`);
        }
      }
    }
  }
  return { name: "every log is complete", pass: problems.length === 0, problems };
}

function describeSeqs(seqs: number[]): string {
  return seqs.length <= 12 ? seqs.join(",") : `${seqs.slice(0, 6).join(",")},...,${seqs.slice(-4).join(",")}`;
}

export function describeDifference(actual: string, expected: string): string {
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const show = (text: string) => JSON.stringify(text.slice(Math.max(0, at - 20), at + 40));
  return `differs at character ${at} (${actual.length} stored, ${expected.length} expected): ` +
    `stored ${show(actual)}, expected ${show(expected)}`;
}

/** 3: a succeeded task that wrote $FABRIC_OUTPUT has it stored, from its final attempt. */
export function checkOutputs(input: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const job of input.jobs) {
    for (const task of job.tasks) {
      const d = task.detail;
      if (templateOf(job, task)?.kind !== "output" || d.state !== "succeeded") continue;
      const last = [...d.attempts].sort((a, b) => a.attempt - b.attempt).at(-1);
      const expected = expectedOutput({ id: d.id, attempt: d.attempt, agent: last?.agent ?? d.agent, index: d.index });
      if (!isDeepStrictEqual(d.output, expected)) {
        problems.push(`task ${d.id}: output ${JSON.stringify(d.output)}, expected ${JSON.stringify(expected)}`);
      }
    }
  }
  return {
    name: "every succeeded task that writes $FABRIC_OUTPUT has it stored",
    pass: problems.length === 0,
    problems,
  };
}
