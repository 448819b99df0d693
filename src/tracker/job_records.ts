/** A submitted job file becomes records: validated, expanded (`select: all` per ready agent), queued. */
import {
  type BlobRef,
  describeIssue,
  effectiveTask,
  emptyCounts,
  FabricError,
  instanceCount,
  type JobSignature,
  type JobSpec,
  jobStateFrom,
  keyName,
  MAX_JOB_TASKS,
  type SignedJob,
  signedPayload,
  type TaskInstance,
  templateInstances,
  validateJobSpec,
  verifyPayload,
} from "../protocol/mod.ts";
import { type JobRecord, queuedTask, type TaskRecord } from "../store/mod.ts";
import { type Candidate, eligibleAgents } from "./placement.ts";
import { type PlanAgent, readyCandidates } from "./planner.ts";
import { Slices } from "./slices.ts";

/** The job spec of a submission, validated, with every script file it names sent along. */
export function parseSubmission(spec: unknown, files: Record<string, string>): JobSpec {
  const parsed = validateJobSpec(spec);
  if (!parsed.success) {
    const issues = parsed.issues.slice(0, 20).map((issue) => describeIssue(issue, spec));
    throw new FabricError("invalid_job", `The job is invalid: ${issues.join("; ")}`, { issues });
  }
  const missing = parsed.data.tasks.filter((t) => t.script !== undefined && !(t.script in files));
  if (missing.length > 0) {
    const names = missing.map((t) => `"${t.script}" (task "${t.name}")`).join(", ");
    throw new FabricError("invalid_job", `The job is invalid: the script file ${names} was not sent with it`);
  }
  return parsed.data;
}

/**
 * A signed submission's payload and signature, once the signature is found to be its key's signature of
 * this job: one that does not match would be refused by every agent that checks, so it is refused now.
 * The tracker trusts no key itself; agents decide which keys they trust.
 */
export async function signedSubmission(
  spec: unknown,
  files: Record<string, string>,
  signature: JobSignature,
  packs: Record<string, BlobRef> = {},
): Promise<SignedJob> {
  let payload: string;
  try {
    payload = signedPayload(spec, files, packs);
  } catch (error) {
    throw new FabricError("invalid_job", (error as Error).message);
  }
  if (!(await verifyPayload(signature, payload))) {
    throw new FabricError(
      "invalid_job",
      `The job's signature (by ${keyName(signature.publicKey)}) is not a signature of this job and its files: ` +
        "was the job changed after it was signed?",
    );
  }
  return { payload, ...signature };
}

export interface JobRecordsOptions {
  jobId: string;
  now: number;
  source: string | null;
  files: Record<string, string>;
  /** The packs of `files:` by task name (blobs.ts); none by default. */
  packs?: Record<string, BlobRef>;
  signed: SignedJob | null;
  /** The name of the token that submits it (none: a job made by a test). */
  submittedBy?: string | null;
  /** Its tasks, as expandForAgents decided them. */
  expansion: Expansion;
}

/**
 * A new job's record and its tasks' records, all queued, made in slices (slices.ts): a million take
 * seconds. Safe to slice: nothing of the job is anywhere but here until it is stored and indexed.
 */
export async function jobRecords(
  spec: JobSpec,
  options: JobRecordsOptions,
  slices = new Slices(),
): Promise<{ job: JobRecord; tasks: TaskRecord[] }> {
  const { jobId, now, expansion } = options;
  const counts = emptyCounts();
  counts.queued = expansion.total;
  const job: JobRecord = {
    id: jobId,
    name: spec.name,
    spec,
    files: options.files,
    packs: options.packs ?? {},
    source: options.source,
    signed: options.signed,
    submittedBy: options.submittedBy ?? null,
    state: "queued",
    cancelRequested: false,
    total: expansion.total,
    counts,
    createdAt: now,
    finishedAt: null,
    version: 1,
  };
  // Each record made from its instance at once: the instances are never all held.
  const tasks: TaskRecord[] = new Array(expansion.total);
  let ord = 0;
  for (const instance of expandedInstances(spec, expansion)) {
    tasks[ord] = queuedTask({
      id: `${jobId}.${ord}`,
      jobId,
      ord,
      template: instance.template,
      name: instance.name,
      index: instance.index,
      count: instance.count,
      matrix: instance.matrix,
      pinnedAgent: instance.pinnedAgent ?? null,
      createdAt: now,
    });
    ord++;
    if (slices.due()) await slices.next();
  }
  if (ord !== expansion.total) throw new Error(`the job made ${ord} tasks, not ${expansion.total}`);
  return { job, tasks };
}

/** What a job file's tasks make: how many in all, and for each task of the file, the agents it is copied for. */
export interface Expansion {
  total: number;
  /** By the task's position in the job file: the names of the agents a `select: all` task makes a copy for, sorted; else null. */
  perAgent: Array<string[] | null>;
}

/**
 * `select: all` makes one copy of a task per eligible ready agent, as Nanite's :all; `signedBy` is the
 * key that signed the job (agents with `--verify-key` take only jobs signed by theirs). Decided here,
 * from the agents as they are now, and checked (none eligible, too many tasks); the tasks themselves
 * are made one at a time by expandedInstances.
 */
export function expandForAgents(
  agents: Iterable<PlanAgent>,
  spec: JobSpec,
  options: { signedBy: string | null },
): Expansion {
  const perAgent: Array<string[] | null> = [];
  const counts = spec.tasks.map(instanceCount);
  // Tasks of the templates after the current one, for the limit below.
  let expanded = counts.reduce((a, b) => a + b, 0);
  let total = 0;
  let ready: Candidate[] | null = null;
  spec.tasks.forEach((taskSpec, i) => {
    const instances = counts[i];
    expanded -= instances;
    const effective = effectiveTask(spec, taskSpec);
    if (effective.select !== "all") {
      // Taken as they are (no agent named): a copy of each would be a million objects more to collect.
      perAgent.push(null);
      total += instances;
      return;
    }
    ready ??= readyCandidates(agents);
    const eligible = eligibleAgents(ready, { ...effective, pinnedAgent: null, signedBy: options.signedBy });
    if (eligible.reason !== null) {
      throw new FabricError(
        "conflict",
        `Task "${taskSpec.name}" selects all agents, but none can take it now: ${eligible.reason}`,
      );
    }
    const names = eligible.agents.map((a) => a.name).sort();
    const count = instances * names.length;
    if (total + count + expanded > MAX_JOB_TASKS) {
      throw new FabricError(
        "invalid_job",
        `The job is invalid: "${taskSpec.name}" on each of ${names.length} agents makes the job more than ` +
          `${MAX_JOB_TASKS} tasks`,
      );
    }
    perAgent.push(names);
    total += count;
  });
  return { total, perAgent };
}

/** The job's tasks in the order they are queued, one at a time, as `expansion` decided them. */
export function* expandedInstances(
  spec: JobSpec,
  expansion: Expansion,
): Generator<TaskInstance & { pinnedAgent?: string | null }> {
  for (const [i, taskSpec] of spec.tasks.entries()) {
    const names = expansion.perAgent[i];
    if (names === null) {
      yield* templateInstances(taskSpec);
      continue;
    }
    const count = instanceCount(taskSpec) * names.length;
    let index = 0;
    for (const instance of templateInstances(taskSpec)) {
      for (const name of names) {
        yield { ...instance, name: `${instance.name}@${name}`, index: index++, count, pinnedAgent: name };
      }
    }
  }
}

/** Which instance of a job file a task is (its display name, and its agent for `select: all`): the same in a rerun. */
export function instanceKey(task: Pick<TaskRecord, "name" | "pinnedAgent">): string {
  return `${task.name}\u0000${task.pinnedAgent ?? ""}`;
}

/**
 * `rerun --failed`: the new job's tasks that succeeded in the job it reruns are succeeded here too,
 * with their output (what needs them reads it), at attempt 0 (nothing of them runs in this job).
 */
export async function carryOver(
  job: JobRecord,
  tasks: TaskRecord[],
  carried: ReadonlyMap<string, TaskRecord>,
  from: string,
  slices = new Slices(),
): Promise<void> {
  let count = 0;
  for (const task of tasks) {
    if (slices.due()) await slices.next(); // the new job is not stored yet: nobody sees it half carried
    const before = carried.get(instanceKey(task));
    if (!before) continue;
    task.state = "succeeded";
    task.attempt = 0;
    task.exitCode = before.exitCode;
    task.reason = `succeeded in job ${from} (task ${before.id}): not run again`;
    task.startedAt = before.startedAt;
    task.finishedAt = before.finishedAt;
    task.durationMs = before.durationMs;
    task.output = before.output;
    task.outputTruncated = before.outputTruncated;
    count++;
  }
  job.counts.queued -= count;
  job.counts.succeeded += count;
  job.state = jobStateFrom(job.counts, job.total, false);
}
