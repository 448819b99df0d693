/** Passes over a large job in slices: the loop turns meanwhile, and the job is seen whole or not at all. Real SQLite. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { testClock } from "./_testing.ts";
import { turn } from "./slices.ts";
import { Tracker } from "./tracker.ts";
import { waitFor } from "../../testing/process.ts";

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

Deno.test("a large job's cancel lets the event loop turn, each task seen queued or cancelled in job order, and the job then leaves memory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-slices-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), clock: testClock() });
  try {
    const { jobId } = await tracker.submitJob({ name: "wide", tasks: [{ name: "t", run: "true", count: TASKS }] });
    const job = tracker.state.jobs.get(jobId)!;
    const cancelling = tracker.cancelJob(jobId);
    let done = false;
    cancelling.finally(() => done = true).catch(() => {});
    let halfway = 0, inconsistent = 0;
    while (!done) {
      await turn();
      // Between two slices: the tasks reached are cancelled, the others queued, and the counts say so.
      const states = job.tasks.map((t) => t.record.state);
      const reached = states.indexOf("queued") < 0 ? TASKS : states.indexOf("queued");
      if (states.slice(reached).some((s) => s !== "queued")) inconsistent++;
      if (states.slice(0, reached).some((s) => s !== "cancelled")) inconsistent++;
      const counts = job.record.counts;
      if (counts.cancelled !== reached || counts.queued !== TASKS - reached) inconsistent++;
      if (reached < TASKS && job.record.state === "cancelled") inconsistent++;
      if (reached > 0 && reached < TASKS) halfway++;
    }
    assert.deepEqual(await cancelling, { jobId, cancelled: TASKS, stopping: 0 });
    assert.equal(inconsistent, 0, "the job was seen inconsistent between two slices");
    assert.ok(halfway > 0, "the event loop never turned while the cancel was under way");
    assert.equal(job.record.counts.cancelled, TASKS);
    await waitFor("the job to leave memory", () => !tracker.state.jobs.has(jobId), {
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    assert.equal(tracker.state.tasks.get(`${jobId}.0`), undefined);
    assert.equal((await tracker.store.getJob(jobId))?.state, "cancelled");
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
