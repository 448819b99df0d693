/** Task transitions through the tracker's API, on real SQLite with injected time: the ones that walk a job's needs. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { chainSpec, TEST_AGENT, testClock } from "./_testing.ts";
import { getJob } from "./queries.ts";
import { Tracker } from "./tracker.ts";

const AGENT = { ...TEST_AGENT, name: "a", slots: 1 };

async function withTracker(body: (tracker: Tracker) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-lifecycle-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), clock: testClock(1000) });
  try {
    await body(tracker);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a failed task at the head of a 5,000-long needs chain skips every task after it", () =>
  withTracker(async (tracker) => {
    const { agentId } = await tracker.registerAgent(AGENT);
    const { jobId } = await tracker.submitJob(chainSpec(5000));
    const [head] = (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(agentId, [
      {
        type: "finished",
        taskId: head.taskId,
        attempt: 1,
        at: 1000,
        result: { kind: "exited", code: 1 },
        durationMs: 1,
      },
    ]);
    const job = await getJob(tracker, jobId);
    assert.equal(job.state, "failed");
    assert.deepEqual([job.counts.failed, job.counts.skipped], [1, 4999]);
    assert.equal(job.tasks[1].reason, 'skipped: "t0" did not succeed');
    assert.equal(job.tasks[4999].reason, 'skipped: "t4998" did not succeed');
  }));

Deno.test("cancelling a job whose needs chain is 5,000 long ends it at once", () =>
  withTracker(async (tracker) => {
    const { jobId } = await tracker.submitJob(chainSpec(5000));
    assert.deepEqual(await tracker.cancelJob(jobId), { jobId, cancelled: 1, stopping: 0 });
    const job = await getJob(tracker, jobId);
    assert.equal(job.state, "cancelled");
    assert.deepEqual([job.counts.cancelled, job.counts.skipped], [1, 4999]);
  }));

Deno.test("when needs meet in a diamond, each skipped task names the first need that failed, depth first", () =>
  withTracker(async (tracker) => {
    const { agentId } = await tracker.registerAgent(AGENT);
    const { jobId } = await tracker.submitJob({
      name: "diamond",
      tasks: [
        { name: "a", run: "x" },
        { name: "b", run: "x", needs: ["a"] },
        { name: "c", run: "x", needs: ["a"] },
        { name: "d", run: "x", needs: ["c", "b"] },
      ],
    });
    const [a] = (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(agentId, [
      { type: "finished", taskId: a.taskId, attempt: 1, at: 1000, result: { kind: "exited", code: 2 }, durationMs: 1 },
    ]);
    const reasons = (await getJob(tracker, jobId)).tasks.map((t) => [t.name, t.state, t.reason]);
    assert.deepEqual(reasons, [
      ["a", "failed", null],
      ["b", "skipped", 'skipped: "a" did not succeed'],
      ["c", "skipped", 'skipped: "a" did not succeed'],
      ["d", "skipped", 'skipped: "b" did not succeed'],
    ]);
  }));
