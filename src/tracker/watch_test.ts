/** Watching a job: its end is answered from memory, as durable as the store's copy. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { getJobSummary, watchJob } from "./queries.ts";
import { ranEvents, TEST_AGENT, testClock } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

Deno.test("a watch that sees its job end answers from the job's entry, not a read of the store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-watch-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  // The real store, its reads of a job counted: on PostgreSQL each is a round trip at the end of a watched job.
  const getJob = store.getJob.bind(store);
  let reads = 0;
  store.getJob = (id) => {
    reads++;
    return getJob(id);
  };
  const clock = testClock();
  const tracker = await Tracker.open({ store, clock, heartbeatMs: 1000, ttlMs: 60_000 });
  try {
    const { agentId } = await tracker.registerAgent({ name: "a", slots: 1, ...TEST_AGENT });
    const { jobId, version } = await tracker.submitJob({ name: "one", tasks: [{ name: "t", run: "true" }] });
    const [assignment] = (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
    const watched = watchJob(tracker, jobId, version, 10_000);
    await tracker.report(agentId, ranEvents(assignment, clock.t));
    const seen = await watched;
    assert.equal(seen.state, "succeeded");
    assert.equal(reads, 0, "the watch read the ended job back from the store");
    // Out of memory now: what the store holds is what the watch answered.
    assert.equal(tracker.state.jobs.has(jobId), false);
    assert.deepEqual(await getJobSummary(tracker, jobId), seen);
    assert.equal(reads, 1);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
