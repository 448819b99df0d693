/** Records as the tracker writes them, for tests of the stores and of the tracker's writer. */
import { emptyCounts } from "../src/protocol/mod.ts";
import { type AttemptRecord, type JobRecord, queuedTask, type TaskRecord } from "../src/store/mod.ts";

/** A queued job of one task, "t", that runs `true`. */
export function queuedJobRecord(id: string, name = id): JobRecord {
  return {
    id,
    name,
    spec: { name, tasks: [{ name: "t", run: "true" }] },
    files: {},
    source: null,
    signed: null,
    submittedBy: null,
    state: "queued",
    cancelRequested: false,
    total: 1,
    counts: emptyCounts(),
    createdAt: 1,
    finishedAt: null,
    version: 1,
  };
}

/** A task's first attempt, assigned to `agentId` and not started. */
export function assignedAttempt(taskId: string, agentId: string): AttemptRecord {
  return {
    taskId,
    attempt: 1,
    agentId,
    state: "assigned",
    assignedAt: 1,
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    signal: null,
    reason: null,
  };
}

/** A queued job of `count` queued tasks, as the tracker holds it: the job, and its tasks in order. */
export function queuedJobWithTasks(id: string, count: number): { job: JobRecord; tasks: TaskRecord[] } {
  const job = { ...queuedJobRecord(id), total: count, counts: { ...emptyCounts(), queued: count } };
  const fields = { jobId: id, template: "t", name: "t", count, matrix: null, pinnedAgent: null, createdAt: 1 };
  const tasks = Array.from(
    { length: count },
    (_, ord) => queuedTask({ id: `${id}.${ord}`, ord, index: ord, ...fields }),
  );
  return { job, tasks };
}
