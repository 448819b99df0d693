/** A start from a store: long dependency chains and jobs that cannot be loaded. Real SQLite, injected time. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { emptyBatch, SqliteStore } from "../store/mod.ts";
import { chainSpec, testClock } from "./_testing.ts";
import { expandForAgents, jobRecords, parseSubmission } from "./job_records.ts";
import { getJob } from "./queries.ts";
import { Tracker } from "./tracker.ts";

const clock = testClock();

/** Jobs written straight into a store at `path`, as a tracker that stopped would have left them. */
async function storeJobs(path: string, jobs: Array<{ id: string; spec: unknown; cancelRequested?: boolean }>) {
  const store = SqliteStore.open(path);
  const batch = emptyBatch();
  for (const { id, spec, cancelRequested } of jobs) {
    const parsed = parseSubmission(spec, {});
    const records = await jobRecords(parsed, {
      jobId: id,
      now: clock.now(),
      source: null,
      files: {},
      signed: null,
      expansion: expandForAgents([], parsed, { signedBy: null }),
    });
    records.job.cancelRequested = cancelRequested ?? false;
    batch.newJobs.push(records.job);
    batch.tasks.push(...records.tasks);
  }
  await store.write(batch);
  await store.close();
}

async function withDir(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-load-test-" });
  try {
    await body(join(dir, "fabric.db"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a job being cancelled whose needs chain is 5,000 long is loaded at a start, and its cancel goes on", () =>
  withDir(async (path) => {
    await storeJobs(path, [{ id: "chain", spec: chainSpec(5000), cancelRequested: true }]);
    const tracker = await Tracker.open({ store: SqliteStore.open(path), clock });
    try {
      await tracker.flush();
      const job = await getJob(tracker, "chain");
      assert.equal(job.state, "cancelled");
      assert.deepEqual([job.counts.cancelled, job.counts.skipped], [1, 4999]);
      assert.equal(job.tasks[4999].reason, 'skipped: "t4998" did not succeed');
    } finally {
      await tracker.close();
    }
  }));

Deno.test("a job that cannot be loaded is set aside, failed with the reason, and the tracker starts with the others", () =>
  withDir(async (path) => {
    const spec = { name: "j", tasks: [{ name: "a", run: "true", count: 2 }, { name: "b", run: "true", needs: ["a"] }] };
    await storeJobs(path, [{ id: "unknown-template", spec }, { id: "broken-json", spec }, { id: "fine", spec }]);
    // As another version of fabric, or a hand's edit, might leave them.
    const raw = new DatabaseSync(path);
    raw.exec("UPDATE tasks SET template = 'gone' WHERE id = 'unknown-template.1'");
    raw.exec("UPDATE jobs SET counts = '{not json' WHERE id = 'broken-json'");
    raw.close();

    const logs: string[] = [];
    const tracker = await Tracker.open({ store: SqliteStore.open(path), clock, log: (line) => logs.push(line) });
    try {
      const fine = await getJob(tracker, "fine");
      assert.equal(fine.state, "queued");
      assert.equal(fine.tasks[2].reason, 'waiting for "a"');
      const unknown = await getJob(tracker, "unknown-template");
      assert.equal(unknown.state, "failed");
      assert.deepEqual(unknown.counts, { ...fine.counts, queued: 0, failed: 3 });
      assert.match(
        unknown.tasks[0].reason!,
        /^set aside when the tracker started: it could not be loaded: task unknown-template\.1 is a copy of "gone"/,
      );
      const broken = await getJob(tracker, "broken-json");
      assert.equal(broken.state, "failed");
      assert.equal(broken.counts.failed, 3, "the counts are taken again from the tasks");
      assert.match(broken.tasks[0].reason!, /^set aside when the tracker started: its stored rows are not valid: /);
      assert.equal(logs.filter((line) => line.includes("set aside")).length, 2);
    } finally {
      await tracker.close();
    }
    // Set aside for good: the next start loads only the job that was fine.
    const again = await Tracker.open({ store: SqliteStore.open(path), clock });
    try {
      assert.deepEqual([...again.state.jobs.keys()], ["fine"]);
    } finally {
      await again.close();
    }
  }));
