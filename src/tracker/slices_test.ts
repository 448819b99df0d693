/** Passes over a large job in slices: the loop turns meanwhile, and the job is seen whole or not at all. Real SQLite. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { testClock } from "./_testing.ts";
import { turn } from "./slices.ts";
import { Tracker } from "./tracker.ts";

const TASKS = 100_000;

Deno.test("a large job's submit lets the event loop turn, and claims, the scheduler and reads by id see it whole or not at all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-slices-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), clock: testClock() });
  try {
    const submitted = tracker.submitJob({ name: "wide", tasks: [{ name: "t", run: "true", count: TASKS }] });
    let done = false;
    submitted.finally(() => done = true).catch(() => {});
    let turns = 0, seenHalf = 0;
    while (!done) {
      await turn();
      turns++;
      const jobs = [...tracker.state.jobs.values()];
      const templates = tracker.state.templates;
      if (jobs.length === 0) {
        if (templates.length > 0) seenHalf++;
        continue;
      }
      // Visible: whole, with every task findable by id and queued in its template.
      const [job] = jobs;
      if (job.tasks.length !== TASKS || templates.length !== 1) seenHalf++;
      if (tracker.state.tasks.get(`${job.record.id}.${TASKS - 1}`) !== job.tasks[TASKS - 1]) seenHalf++;
    }
    const { jobId, tasks } = await submitted;
    assert.equal(tasks, TASKS);
    assert.equal(seenHalf, 0, "the job was seen half made");
    assert.ok(turns > 1, `the event loop turned ${turns} time(s) during the submit`);
    const job = tracker.state.jobs.get(jobId)!;
    assert.equal(tracker.state.tasks.get(`${jobId}.0`), job.tasks[0]);
    assert.equal(tracker.state.tasks.get(`${jobId}.${TASKS}`), undefined);
    assert.equal(tracker.state.tasks.get(`${jobId}.x`), undefined);
    assert.equal(tracker.state.tasks.get("nojob.0"), undefined);
    assert.equal([...tracker.state.tasks.values()].length, TASKS);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
