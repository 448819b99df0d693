/**
 * A store writes a batch as it was when it was handed over (store/batch_snapshot.ts): a task that
 * changes after that is written with its own batch, and its job's counts with it, never before it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PostgresStore, SqliteStore, type Store } from "../store/mod.ts";
import type { JobRecord, TaskRecord } from "../store/records.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { lacks } from "../../testing/machine.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { queuedJobWithTasks } from "../../testing/records.ts";
import { StoreWriter } from "./store_writer.ts";

function twoTaskJob(id: string) {
  return queuedJobWithTasks(id, 2);
}

/** What job_progress.ts does when a task starts: the task, and its job's counts. */
function start(job: JobRecord, record: TaskRecord): void {
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
