/** The whole job's JSON made in slices is getJob's answer, byte for byte, active or ended. Real SQLite. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { ranEvents, testClock } from "./_testing.ts";
import { jobDetailJson } from "./job_json.ts";
import { getJob } from "./queries.ts";
import { Tracker } from "./tracker.ts";

const CAPS = { sandbox: true, unsandboxed: false, cgroup: "v1" as const, deno: true, git: true };

Deno.test("a whole job's JSON, sliced as small as it goes, is getJob's answer: queued, placed, ended, and from the store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-job-json-test-" });
  const clock = testClock();
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), clock, ttlMs: 60_000 });
  try {
    const text = async (jobId: string) => await new Response(await jobDetailJson(tracker, jobId, 0)).text();
    const { agentId } = await tracker.registerAgent({
      name: "a1",
      slots: 2,
      labels: {},
      version: "t",
      os: "linux",
      arch: "x86_64",
      capabilities: CAPS,
      resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
    });
    // Enough tasks for many slices (a slice of 0 ms ends at every clock check), a matrix, and a `select: all` task.
    const { jobId } = await tracker.submitJob({
      name: "big",
      tasks: [
        { name: "t", run: "true", count: 1500 },
        { name: "m", run: "true", matrix: { os: ["a", "b"], v: ["1", "2", "3"] } },
        { name: "each", run: "true", select: "all" },
      ],
    });
    const [assignment] = (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(agentId, ranEvents(assignment, clock.t, 3));
    const live = await text(jobId);
    assert.equal(live, JSON.stringify(await getJob(tracker, jobId)));
    const parsed = JSON.parse(live);
    assert.equal(parsed.tasks.length, 1500 + 6 + 1);
    assert.equal(parsed.tasks.at(-1).name, "each@a1");
    assert.ok(parsed.tasks.some((t: { state: string }) => t.state !== "queued"));

    await tracker.cancelJob(jobId);
    await tracker.flush();
    assert.equal(tracker.state.jobs.has(jobId), false, "an ended job is read from the store");
    assert.equal(await text(jobId), JSON.stringify(await getJob(tracker, jobId)));

    const { jobId: empty } = await tracker.submitJob({ name: "one", tasks: [{ name: "x", run: "true" }] });
    assert.equal(await text(empty), JSON.stringify(await getJob(tracker, empty)));
    await assert.rejects(jobDetailJson(tracker, "nope"), /No job "nope"/);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
