/** `fabric status [JOB|TASK] [--json]` */
import { formatDuration } from "../protocol/duration.ts";
import type { FabricClient } from "../client/mod.ts";
import type { JobSummary, TaskDetail, TaskState, TaskView } from "../protocol/mod.ts";
import { TASK_STATES } from "../protocol/task.ts";
import { intFlag, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, escapeControls, isTty, printJson, table, writeText } from "./output.ts";

/** A job of at most this many tasks is shown whole. */
const SMALL_JOB = 50;
/** Rows of each kind in a large job's view. */
const ATTENTION_ROWS = 10;

const USAGE = `
fabric status [JOB | TASK] [--json] [--limit N]
fabric status JOB [--state STATE] [--name GLOB] [--limit N] [--offset N] [--all]

Without an argument: the most recent jobs (id, name, state, counts by state, age).
With a job id: the job (and the name of the token that submitted it) and its tasks (id, name, state,
agent, attempt, exit code, duration). A job of more than ${SMALL_JOB} tasks shows its counts and the tasks
that need attention (failed, lost, and waiting with the reason) instead of every row.
With a task id (JOB.N): the task and each of its attempts.

  --json        JSON (camelCase keys); with a job id and no filter, the whole job
  --limit N     how many jobs to list (default 50), or a job's tasks to show (default 100)
  --state S     only a job's tasks in this state (queued, running, failed, ...)
  --name GLOB   only a job's tasks whose name matches, e.g. 'test[*]' (* and ?)
  --offset N    skip the first N matching tasks (paging)
  --all         every task of the job, however many
${CONNECTION_HELP}
`;

export async function statusCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("status", args, {
    ...CONNECTION_FLAGS,
    json: { type: "boolean" },
    limit: { type: "string" },
    state: { type: "string" },
    name: { type: "string" },
    offset: { type: "string" },
    all: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 1) throw new UsageError("fabric status takes at most one job or task id");
  const json = parsed.values.json === true;
  const filter = {
    state: stringFlag(parsed, "state"),
    name: stringFlag(parsed, "name"),
    offset: intFlag(parsed, "offset", 0, Number.MAX_SAFE_INTEGER),
  };
  if (filter.state !== undefined && !(TASK_STATES as readonly string[]).includes(filter.state)) {
    throw new UsageError(`--state takes one of ${TASK_STATES.join(", ")}, got "${filter.state}"`);
  }
  const paged = filter.state !== undefined || filter.name !== undefined || filter.offset !== undefined;
  const id0 = parsed.positionals[0];
  if ((paged || parsed.values.all) && (id0 === undefined || id0.includes("."))) {
    throw new UsageError("--state, --name, --offset and --all take a job id: fabric status JOB --state failed");
  }
  const limit = intFlag(parsed, "limit", 1, 10_000) ?? (id0 === undefined ? 50 : 100);
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
    if (paged || (parsed.values.limit !== undefined && !parsed.values.all)) {
      const page = await client.getJobTasks(id, {
        state: filter.state as TaskState | undefined,
        name: filter.name,
        offset: filter.offset,
        limit,
      });
      if (json) return printJson(page), 0;
      printHeader(page);
      printTasks(page.tasks);
      const shown = (filter.offset ?? 0) + page.tasks.length;
      if (page.more) {
        console.log(`\n${shown} of ${page.matched}${page.matched > shown ? "" : "+"}: --offset ${shown} for more`);
      }
      return 0;
    }
    if (json && !isTty()) {
      // For a script: the tracker's JSON as it came (a job of 100,000 tasks is tens of megabytes).
      await writeText(await client.getJobText(id));
      return 0;
    }
    if (json || parsed.values.all) {
      const job = await client.getJob(id);
      if (json) printJson(job);
      else printHeader(job), printTasks(job.tasks);
      return 0;
    }
    const summary = await client.getJobTasks(id, { limit: SMALL_JOB });
    printHeader(summary);
    if (!summary.more) return printTasks(summary.tasks), 0;
    await printAttention(client, summary);
    return 0;
  } finally {
    client.close();
  }
}

function printHeader(job: JobSummary): void {
  const c = job.counts;
  const by = job.submittedBy === null ? "" : ` by ${job.submittedBy}`;
  say(
    `Job ${job.id} "${job.name}": ${job.cancelling ? "cancelling" : job.state}, created ${age(job.createdAt)} ago${by}`,
  );
  // `job.periodic` is absent from a tracker older than periodic jobs.
  if (job.periodic) say(`A run of the periodic job ${job.periodic.name}, for ${job.periodic.scheduledAt}`);
  console.log(
    `Tasks: ${job.total} (${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped, ` +
      `${c.cancelled} cancelled, ${c.running + c.assigned} running, ${c.queued + c.lost} queued)\n`,
  );
}

/** A large job: the tasks that need attention, a few of each kind, and how to see the rest. */
async function printAttention(client: FabricClient, job: JobSummary): Promise<void> {
  const kinds: Array<{ state: TaskState; title: string }> = [
    { state: "failed", title: "Failed" },
    { state: "lost", title: "Lost (queued again)" },
    { state: "queued", title: "Waiting" },
    { state: "running", title: "Running" },
  ];
  for (const { state, title } of kinds) {
    if (job.counts[state] === 0) continue;
    const page = await client.getJobTasks(job.id, { state, limit: ATTENTION_ROWS });
    console.log(`${title}: ${page.matched}${page.more ? `, the first ${page.tasks.length}` : ""}`);
    printTasks(page.tasks);
    if (page.more) console.log(`  all of them: fabric status ${job.id} --state ${state}`);
    console.log("");
  }
  console.log(`Every task: fabric status ${job.id} --all (or --state S, --name GLOB, --limit N --offset N)`);
}

function printTasks(tasks: TaskView[]): void {
  console.log(table(
    ["TASK", "NAME", "STATE", "AGENT", "ATTEMPT", "EXIT", "DURATION", "NOTE"],
    tasks.map((t) => [
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
  say(`  ${task.kind} task${task.uses ? ` (${task.uses})` : ""}, ${task.sandbox ? "sandboxed" : "unsandboxed"}`);
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
