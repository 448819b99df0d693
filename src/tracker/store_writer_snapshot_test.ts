/**
 * A commit holds the records as they were when its batch was taken (marked_records.ts): a task that
 * changes after that is written with its own batch, and its job's counts with it, never before it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { emptyCounts } from "../protocol/mod.ts";
import { PostgresStore, SqliteStore, type Store } from "../store/mod.ts";
import { queuedTask, type TaskRecord } from "../store/records.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { lacks } from "../../testing/machine.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { assignedAttempt, queuedJobRecord } from "../../testing/records.ts";
import { MarkedRecords } from "./marked_records.ts";
import { StoreWriter } from "./store_writer.ts";

function task(jobId: string, ord: number): TaskRecord {
  const fields = { jobId, ord, template: "t", name: "t", index: ord, count: 2, matrix: null, pinnedAgent: null };
  return queuedTask({ id: `${jobId}.${ord}`, ...fields, createdAt: 1 });
}

/** A job of two queued tasks, as the tracker holds it. */
function twoTaskJob(id: string) {
  const job = { ...queuedJobRecord(id), total: 2, counts: { ...emptyCounts(), queued: 2 } };
  return { job, tasks: [task(id, 0), task(id, 1)] };
}

/** What job_progress.ts does when a task starts: the task, and its job's counts. */
function start(job: ReturnType<typeof twoTaskJob>["job"], record: TaskRecord): void {
  job.counts[record.state]--;
  job.counts.running++;
  record.state = "running";
}

async function withStore(kind: "sqlite" | "postgres", body: (store: Store) => Promise<void>): Promise<void> {
  if (kind === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "fabric-snapshot-" });
    const store = SqliteStore.open(join(dir, "fabric.db"));
    try {
      await body(store);
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
    return;
  }
  const server = await PostgresServer.start();
  try {
    const store = await PostgresStore.open(await server.createDatabase());
    try {
      await body(store);
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
}

for (const kind of ["sqlite", "postgres"] as const) {
  Deno.test({
    name: `a commit writes a job's counts as its tasks were when the batch was taken, not a later change (${kind})`,
    ignore: kind === "postgres" && lacks("postgres"),
    fn: () =>
      withStore(kind, async (store) => {
        const writer = new StoreWriter(store, () => {}, { clock: new FakeClock(), random: () => 0.5 });
        try {
          const { job, tasks: [first, second] } = twoTaskJob("j1");
          await writer.insertJob(job, [first, second]);
          start(job, first);
          writer.task(first);
          writer.job(job);
          const committed = writer.flush();
          // In the same turn, after the batch was taken: the second task starts. Its own batch is never
          // written (the tracker is killed before it commits).
          start(job, second);
          await committed;
          writer.stop();

          const stored = (await store.getJob("j1"))!;
          const states = (await store.listTasks("j1")).map((record) => record.state);
          assert.deepEqual(states, ["running", "queued"]);
          // Before: the job's row carried the second task's start (running 2, queued 0) while that task's
          // row said queued, and a successor that loaded it counted one task as running that was not.
          assert.equal(stored.counts.running, 1);
          assert.equal(stored.counts.queued, 1);
        } finally {
          writer.stop();
        }
      }),
  });
}

Deno.test("a batch holds copies of its jobs, tasks and attempts; a failed one marks the live records again, once each", () => {
  const marked = new MarkedRecords();
  const { job, tasks: [first] } = twoTaskJob("j2");
  const attempt = assignedAttempt(first.id, "a");
  marked.jobs.add(job);
  marked.tasks.add(first);
  marked.attempts.add(attempt);
  const batch = marked.take();
  start(job, first);
  attempt.startedAt = 5;
  assert.equal(batch.jobs[0].counts.running, 0, "the job's counts as taken");
  assert.equal(batch.tasks[0].state, "queued", "the task as taken");
  assert.equal(batch.attempts[0].startedAt, null, "the attempt as taken");

  // The write failed, and the task was marked again meanwhile: each is written once, as it is now.
  marked.tasks.add(first);
  marked.restore(batch);
  const again = marked.take();
  assert.equal(again.jobs.length, 1);
  assert.equal(again.tasks.length, 1);
  assert.equal(again.attempts.length, 1);
  assert.equal(again.jobs[0].counts.running, 1);
  assert.equal(again.tasks[0].state, "running");
  assert.equal(again.attempts[0].startedAt, 5);
});

Deno.test("a large new job's tasks are written as they are, not copied (nothing places them before they are stored)", () => {
  const marked = new MarkedRecords();
  const job = { ...queuedJobRecord("j3"), total: 65, counts: { ...emptyCounts(), queued: 65 } };
  const tasks = Array.from({ length: 65 }, (_, ord) => task("j3", ord));
  marked.newJobs.add(job);
  for (const record of tasks) marked.tasks.add(record);
  const small = { ...queuedJobRecord("j4"), total: 1, counts: { ...emptyCounts(), queued: 1 } };
  const smallTask = task("j4", 0);
  marked.newJobs.add(small);
  marked.tasks.add(smallTask);
  const batch = marked.take();
  assert.ok(batch.tasks.slice(0, 65).every((record, i) => record === tasks[i]));
  assert.notEqual(batch.tasks[65], smallTask, "a small new job's task is a copy");
  assert.deepEqual(batch.tasks[65], smallTask);
});
