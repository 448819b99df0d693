/** `fabric status [JOB|TASK] [--json]` */
import { formatDuration } from "../protocol/duration.ts";
import type { JobDetail, TaskDetail, TaskView } from "../protocol/mod.ts";
import { intFlag, parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, escapeControls, isTty, printJson, table, writeText } from "./output.ts";

const USAGE = `
fabric status [JOB | TASK] [--json] [--limit N]

Without an argument: the most recent jobs (id, name, state, counts by state, age).
With a job id: the job (and the name of the token that submitted it) and its tasks (id, name, state,
agent, attempt, exit code, duration).
With a task id (JOB.N): the task and each of its attempts.

  --json      JSON (camelCase keys)
  --limit N   how many jobs to list (default 50)
${CONNECTION_HELP}
`;

export async function statusCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("status", args, {
    ...CONNECTION_FLAGS,
    json: { type: "boolean" },
    limit: { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 1) throw new UsageError("fabric status takes at most one job or task id");
  const limit = intFlag(parsed, "limit", 1, 10_000) ?? 50;
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    const id = parsed.positionals[0];
    if (id === undefined) {
      const jobs = await client.listJobs(limit);
      if (json) return printJson(jobs), 0;
      if (jobs.length === 0) return console.log("No jobs yet. Submit one with: fabric submit FILE"), 0;
      console.log(table(
        ["ID", "NAME", "STATE", "DONE", "RUNNING", "QUEUED", "FAILED", "AGE"],
        jobs.map((j) => [
          j.id,
          j.name,
          j.cancelling ? "cancelling" : j.state,
          `${j.counts.succeeded}/${j.total}`,
          String(j.counts.running + j.counts.assigned),
          String(j.counts.queued + j.counts.lost),
          String(j.counts.failed + j.counts.cancelled),
          age(j.createdAt),
        ]),
      ));
      return 0;
    }
    if (id.includes(".")) {
      const task = await client.getTask(id);
      if (json) printJson(task);
      else printTask(task);
      return 0;
    }
    if (json && !isTty()) {
      // For a script: the tracker's JSON as it came (a job of 100,000 tasks is tens of megabytes).
      await writeText(await client.getJobText(id));
      return 0;
    }
    const job = await client.getJob(id);
    if (json) printJson(job);
    else printJob(job);
    return 0;
  } finally {
    client.close();
  }
}

function printJob(job: JobDetail): void {
  const c = job.counts;
  const by = job.submittedBy === null ? "" : ` by ${job.submittedBy}`;
  say(
    `Job ${job.id} "${job.name}": ${job.cancelling ? "cancelling" : job.state}, created ${age(job.createdAt)} ago${by}`,
  );
  console.log(
    `Tasks: ${job.total} (${c.succeeded} succeeded, ${c.failed} failed, ${c.cancelled} cancelled, ` +
      `${c.running + c.assigned} running, ${c.queued + c.lost} queued)\n`,
  );
  console.log(table(
    ["TASK", "NAME", "STATE", "AGENT", "ATTEMPT", "EXIT", "DURATION", "NOTE"],
    job.tasks.map((t) => [
      t.id,
      t.name,
      t.state,
      t.agent ?? "-",
      String(t.attempt),
      t.exitCode !== null ? String(t.exitCode) : t.signal ?? (t.reason === "timed_out" ? "timeout" : "-"),
      t.durationMs !== null ? formatDuration(t.durationMs) : t.startedAt ? age(t.startedAt) : "-",
      note(t),
    ]),
  ));
}

function note(t: TaskView): string {
  const parts: string[] = [];
  if (t.state !== "succeeded" && t.reason && t.reason !== "timed_out") parts.push(t.reason);
  if (!t.sandbox) parts.push("unsandboxed");
  if (t.outputTruncated) parts.push("output truncated");
  return parts.join("; ");
}

/** A line of text from the tracker, which carries what jobs and agents chose (names, reasons, output). */
function say(line: string): void {
  console.log(escapeControls(line));
}

function printTask(task: TaskDetail): void {
  say(`Task ${task.id} "${task.name}" of job ${task.jobId}: ${task.state}`);
  say(`  ${task.kind} task, ${task.sandbox ? "sandboxed" : "unsandboxed"}`);
  say(`  index ${task.index}, attempt ${task.attempt}, agent ${task.agent ?? "-"}`);
  if (task.matrix) say(`  matrix ${Object.entries(task.matrix).map(([k, v]) => `${k}=${v}`).join(", ")}`);
  if (task.needs.length > 0) say(`  needs ${task.needs.join(", ")}`);
  if (task.exitCode !== null) say(`  exit code ${task.exitCode}`);
  if (task.signal) say(`  signal ${task.signal}`);
  if (task.reason) say(`  reason: ${task.reason}`);
  if (task.durationMs !== null) say(`  duration ${formatDuration(task.durationMs)}`);
  if (task.outputTruncated) say("  output truncated (over maxOutput)");
  if (task.output !== null) say(`  output ${JSON.stringify(task.output)}`);
  if (task.attempts.length > 0) {
    console.log("");
    console.log(table(
      ["ATTEMPT", "AGENT", "STATE", "EXIT", "REASON"],
      task.attempts.map((a) => [
        String(a.attempt),
        a.agent,
        a.state,
        a.exitCode !== null ? String(a.exitCode) : a.signal ?? "-",
        a.reason ?? "-",
      ]),
    ));
  }
}
