/**
 * A batch as it is now, for a store that makes its rows later than `write()` is called (PostgreSQL
 * after reserving a connection, a large batch chunk by chunk across awaits; SQLite's large batches in
 * parts). The tracker goes on changing its records after it hands a batch over: a task that starts
 * meanwhile would be written with its job's counts moved and itself not (its change belongs to the
 * next batch), and a tracker killed before that next commit would leave a job whose counts disagree
 * with its tasks (its successor ended it with a task still running: the chaos suite saw it). So the
 * jobs (with their counts), tasks and attempts are copied here, at once. A small batch needs no copy:
 * both stores make its rows before `write()` returns.
 */
import type { AttemptRecord, JobRecord, TaskRecord, WriteBatch } from "./records.ts";

/**
 * A new job of more tasks than this is written alone before any of them is placed (the tracker's
 * job_intake.ts: nothing changes them before that insert commits), so its tasks go as they are:
 * copying a million of them would double a large submit's memory.
 */
const COPIED_NEW_TASKS = 64;

export function snapshotBatch(batch: WriteBatch): WriteBatch {
  const inserted = new Set(batch.newJobs.filter((job) => job.total > COPIED_NEW_TASKS).map((job) => job.id));
  return {
    ...batch,
    newJobs: batch.newJobs.map(copyJob),
    jobs: batch.jobs.map(copyJob),
    tasks: batch.tasks.map((task) => inserted.has(task.jobId) ? task : copy(task)),
    attempts: batch.attempts.map(copy),
  };
}

/** A job's counts are the one part of a record changed in place. */
function copyJob(job: JobRecord): JobRecord {
  return { ...job, counts: { ...job.counts } };
}

function copy<T extends TaskRecord | AttemptRecord>(record: T): T {
  return { ...record };
}
