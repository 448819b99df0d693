/** Reads: jobs, tasks, agents and logs, from memory for what is active and from the store for the rest. */
import {
  type AgentView,
  effectiveTask,
  FabricError,
  isTerminalJob,
  isTerminalTask,
  type JobDetail,
  type JobSpec,
  type JobSummary,
  type LogLine,
  needNames,
  type TaskDetail,
  type TaskState,
  type TaskView,
  type WaitingNote,
} from "../protocol/mod.ts";
import type { JobQuery, JobRecord, TaskQuery, TaskRecord } from "../store/mod.ts";
import { recentLogsAfter } from "./entries.ts";
import type { JobEntry, TaskEntry, TemplateEntry } from "./entries.ts";
import { tasksInState } from "./task_page.ts";
import type { Tracker } from "./tracker.ts";
import { type AgentNames, agentView, attemptView, jobSummary, type TaskContext, taskView } from "./views.ts";
import { waitReason } from "./wait_reason.ts";
import { waitingNotes } from "./waiting.ts";
import { Wakeup } from "./wakeup.ts";

const LOG_PAGE = 1000;
const FOLLOW_WAIT_MS = 15_000;

export function agentNames(tracker: Tracker): AgentNames {
  return (id) => (id === null ? null : tracker.state.agents.get(id)?.record.name ?? id);
}

export async function listJobs(tracker: Tracker, limit: number): Promise<JobSummary[]> {
  await tracker.flush();
  const records = await tracker.store.listJobs({ limit });
  return records.map((record) => jobSummary(tracker.state.jobs.get(record.id)?.record ?? record));
}

/** One page of jobs, newest first (the dashboard's list), with the active ones as memory has them. */
export async function listJobsPage(tracker: Tracker, query: JobQuery): Promise<JobSummary[]> {
  await tracker.flush();
  const records = await tracker.store.listJobsPage(query);
  return records.map((record) => jobSummary(tracker.state.jobs.get(record.id)?.record ?? record));
}

export async function getJobSummary(tracker: Tracker, jobId: string): Promise<JobSummary> {
  const active = tracker.state.jobs.get(jobId);
  if (active) return jobSummary(active.record);
  const record = await tracker.store.getJob(jobId);
  if (!record) throw new FabricError("not_found", `No job "${jobId}"`);
  return jobSummary(record);
}

/** Context of a task in memory: the scheduler knows why it waits. */
export function liveContext(task: TaskEntry): TaskContext {
  const e = task.template.effective;
  return { kind: e.kind, uses: e.uses, sandbox: e.sandbox, reason: waitReason(task) };
}

/** Context of a task of an ended job, from its stored spec. */
export function storedContext(spec: JobSpec): (task: TaskRecord) => TaskContext {
  const byName = new Map(spec.tasks.map((t) => [t.name, effectiveTask(spec, t)]));
  return (task) => {
    const e = byName.get(task.template);
    return { kind: e?.kind ?? "shell", uses: e?.uses, sandbox: e?.sandbox ?? true, reason: task.reason };
  };
}

export async function getJob(tracker: Tracker, jobId: string): Promise<JobDetail> {
  const names = agentNames(tracker);
  const active = tracker.state.jobs.get(jobId);
  if (active) {
    return {
      ...jobSummary(active.record),
      tasks: active.tasks.map((task) => taskView(task.record, names, liveContext(task))),
    };
  }
  const record = await tracker.store.getJob(jobId);
  if (!record) throw new FabricError("not_found", `No job "${jobId}"`);
  const tasks = await tracker.store.listTasks(jobId);
  const context = storedContext(record.spec);
  return { ...jobSummary(record), tasks: tasks.map((task) => taskView(task, names, context(task))) };
}

/** A job with one page of its tasks, and its file (the dashboard draws its `needs`). */
export interface JobPage {
  job: JobSummary;
  spec: JobSpec;
  /** The tasks of the page, in the job's order. */
  tasks: TaskView[];
  /** How each task of the file stands while the job runs (null once it has ended), by name. */
  templates: Map<string, TemplateProgress> | null;
}

/** One task of the job file, over its copies: how many there are, how many ended well, and where they are. */
export interface TemplateProgress {
  tasks: number;
  succeeded: number;
  state: "waiting" | "queued" | "running" | "succeeded" | "failed" | "skipped";
}

/**
 * A job and one page of its tasks: sliced from memory while it runs, read a page at a time from the
 * store once it has ended, so that a job of a million tasks costs a page, not a million rows.
 */
export async function getJobPage(tracker: Tracker, jobId: string, query: TaskQuery): Promise<JobPage> {
  const names = agentNames(tracker);
  const active = tracker.state.jobs.get(jobId);
  if (active) {
    const { offset, limit, state } = query;
    const tasks = state
      ? tasksInState(active.tasks, state, active.record.counts[state], offset, limit)
      : active.tasks.slice(offset, offset + limit);
    return {
      job: jobSummary(active.record),
      spec: active.record.spec,
      tasks: tasks.map((task) => taskView(task.record, names, liveContext(task))),
      templates: new Map([...active.templates.values()].map((t) => [t.name, templateProgress(t)])),
    };
  }
  await tracker.flush();
  const record = await tracker.store.getJob(jobId);
  if (!record) throw new FabricError("not_found", `No job "${jobId}"`);
  const tasks = await tracker.store.listTasksPage(jobId, query);
  const context = storedContext(record.spec);
  return {
    job: jobSummary(record),
    spec: record.spec,
    tasks: tasks.map((task) => taskView(task, names, context(task))),
    templates: null,
  };
}

function templateProgress(template: TemplateEntry): TemplateProgress {
  let failed = false;
  let skipped = false;
  let started = false;
  for (const task of template.instances) {
    const s = task.record.state;
    if (s === "failed" || s === "cancelled") failed = true;
    // Skipped is no failure of its own: a need's condition did not hold (`on_failure` after a
    // success), or what it needs failed, which shows on that one.
    else if (s === "skipped") skipped = true;
    else if (s !== "queued") started = true;
  }
  const tasks = template.instances.length;
  const state = failed
    ? "failed"
    : skipped
    ? "skipped"
    : template.succeeded === tasks
    ? "succeeded"
    : started || template.succeeded > 0
    ? "running"
    : template.waitingOn.size > 0
    ? "waiting"
    : "queued";
  return { tasks, succeeded: template.succeeded, state };
}

/** Wait until the job's version passes `since` (or `waitMs` passes), then return its summary. */
export async function watchJob(
  tracker: Tracker,
  jobId: string,
  since: number,
  waitMs: number,
  signal?: AbortSignal,
): Promise<JobSummary> {
  const active = tracker.state.jobs.get(jobId);
  if (active && active.record.version <= since && !tracker.closing) {
    await active.changed.wait(Math.min(waitMs, tracker.maxWaitMs), signal);
    // A running job changes with every task: the changes of the next moment go out together (a busy
    // job would otherwise cost an answer per task), but the job's end goes out at once.
    const until = tracker.clock.now() + WATCH_COALESCE_MS;
    for (let round = 0; round < 100 && running(tracker, active) && !signal?.aborted; round++) {
      const left = until - tracker.clock.now();
      // Ended by its own timer too: the clock alone (a test's) may not move.
      if (left <= 0 || !(await active.changed.wait(left, signal))) break;
    }
  }
  // A job that ended while watched has left memory by now (its end woke us once durable, right after
  // it was evicted: job_progress.ts). Its entry's record is that durable end: answered from here, not
  // read back from the store (a round trip to PostgreSQL at the end of every watched job).
  if (active && tracker.state.jobs.get(jobId) !== active && isTerminalJob(active.record.state)) {
    return jobSummary(active.record);
  }
  return await getJobSummary(tracker, jobId);
}

/** Why the job's waiting tasks wait (none once it has ended), for a watch that asks. */
export function jobWaiting(tracker: Tracker, jobId: string): WaitingNote[] {
  const active = tracker.state.jobs.get(jobId);
  return active ? waitingNotes(tracker.state, active) : [];
}

/** How long a watch answer waits for more changes of a running job. */
const WATCH_COALESCE_MS = 50;

function running(tracker: Tracker, job: JobEntry): boolean {
  return !tracker.closing && tracker.state.jobs.get(job.record.id) === job && !isTerminalJob(job.record.state);
}

async function taskRecord(tracker: Tracker, taskId: string): Promise<TaskRecord> {
  const active = tracker.state.tasks.get(taskId);
  if (active) return active.record;
  const record = await tracker.store.getTask(taskId);
  if (!record) throw new FabricError("not_found", `No task "${taskId}"`);
  return record;
}

export async function getTask(tracker: Tracker, taskId: string): Promise<TaskDetail> {
  const names = agentNames(tracker);
  await tracker.flush();
  const active = tracker.state.tasks.get(taskId);
  let record: TaskRecord;
  let context: TaskContext;
  let job: JobRecord | null;
  if (active) {
    record = active.record;
    context = liveContext(active);
    job = active.job.record;
  } else {
    record = await taskRecord(tracker, taskId);
    job = await tracker.store.getJob(record.jobId);
    context = job ? storedContext(job.spec)(record) : { kind: "shell", sandbox: true, reason: record.reason };
  }
  const attempts = await tracker.store.listAttempts(taskId);
  const spec = job?.spec.tasks.find((t) => t.name === record.template);
  const artifacts = (await tracker.store.listArtifacts(taskId)).filter((a) => a.attempt === record.attempt);
  return {
    ...taskView(record, names, context),
    attempts: attempts.map((a) => attemptView(a, names)),
    output: record.output === null ? null : JSON.parse(record.output),
    needs: spec ? needNames(spec) : [],
    artifacts: artifacts.map(({ path, sha256, size }) => ({ path, sha256, size })),
  };
}

export function listAgents(tracker: Tracker): AgentView[] {
  return [...tracker.state.agents.values()]
    .filter((agent) => agent.record.admission !== "removed")
    .map((agent) => agentView(agent.record, agent.tasks.size, agent.allocated))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether an attempt's output can still grow, and the state it ended in. */
async function attemptEnded(tracker: Tracker, taskId: string, attempt: number): Promise<TaskState | null> {
  const active = tracker.state.tasks.get(taskId);
  const record = active?.record ?? (await taskRecord(tracker, taskId));
  if (attempt < record.attempt) return "lost";
  if (!active) return record.state; // tasks leave memory only once their job has ended
  if (attempt > record.attempt) return null;
  return isTerminalTask(record.state) ? record.state : null;
}

export interface LogOptions {
  attempt?: number;
  afterSeq?: number;
  follow: boolean;
  signal?: AbortSignal;
}

/** A task's output in order; with `follow`, until the attempt ends. */
export async function* readLogs(tracker: Tracker, taskId: string, options: LogOptions): AsyncGenerator<LogLine> {
  const first = await taskRecord(tracker, taskId);
  const attempt = options.attempt ?? first.attempt;
  let after = options.afterSeq ?? -1;
  for (;;) {
    await tracker.flush();
    // Checked before reading: once ended, the read below sees every chunk of the attempt.
    const ended = await attemptEnded(tracker, taskId, attempt);
    for (;;) {
      // A followed task's latest output is kept in memory once committed: read from there when it
      // reaches back far enough, from the store otherwise (the start of a log, a late follower).
      const live = options.follow ? tracker.state.tasks.get(taskId) : undefined;
      if (live) live.recentLogs ??= { attempt, rows: [], chars: 0 };
      const recent = live ? recentLogsAfter(live, attempt, after) : null;
      const rows = recent ?? await tracker.store.readLogs(taskId, attempt, after, LOG_PAGE);
      for (const row of rows) {
        after = row.seq;
        yield {
          type: "chunk",
          chunk: { seq: row.seq, stream: row.stream, data: row.data, attempt: row.attempt, at: row.at },
        };
      }
      if (recent !== null || rows.length < LOG_PAGE) break;
    }
    if (ended !== null || !options.follow) {
      yield { type: "end", attempt, state: ended ?? (await taskRecord(tracker, taskId)).state };
      return;
    }
    if (options.signal?.aborted || tracker.closing) return;
    const task = tracker.state.tasks.get(taskId);
    if (!task) continue; // ended and left memory since: the next round reads it from the store
    task.changed ??= new Wakeup();
    await task.changed.wait(FOLLOW_WAIT_MS, options.signal);
  }
}
