/**
 * `needs` with a condition (`when: always`, `on_failure`) and with artifacts, through the tracker's API
 * on real SQLite: who runs after shards that failed, the job's final state, and what survives a restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ArtifactRef, type Assignment, EMPTY_SHA256, type TaskEvent } from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { TEST_AGENT, testClock } from "./_testing.ts";
import { getJob, getJobPage } from "./queries.ts";
import { TRACKER_ITSELF } from "./secret_policy.ts";
import { Tracker } from "./tracker.ts";

const AGENT = { ...TEST_AGENT, name: "a", slots: 10 };

async function withDir(body: (open: () => Promise<Tracker>) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-needs-test-" });
  // A test closes a tracker before it opens the next: the last one is closed here.
  let last: Tracker | null = null;
  try {
    await body(async () => {
      const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), clock: testClock(1000) });
      last = tracker;
      return tracker;
    });
  } finally {
    await (last as Tracker | null)?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function finished(a: Assignment, code: number, artifacts?: ArtifactRef[]): TaskEvent {
  return {
    type: "finished",
    taskId: a.taskId,
    attempt: a.attempt,
    at: 1000,
    result: { kind: "exited", code },
    durationMs: 1,
    ...(artifacts ? { artifacts } : {}),
  } as TaskEvent;
}

async function claimAll(tracker: Tracker, agentId: string): Promise<Assignment[]> {
  return (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
}

/** The report's answer carries the work it made ready (a claim right after would not send it again yet). */
async function report(tracker: Tracker, agentId: string, events: TaskEvent[]): Promise<Assignment[]> {
  return (await tracker.report(agentId, events)).assignments;
}

const SHARDED = {
  name: "shards",
  tasks: [
    { name: "shard", run: "x", count: 3 },
    { name: "summary", run: "x", needs: [{ task: "shard", when: "always" }] },
    { name: "alert", run: "x", needs: [{ task: "shard", when: "on_failure" }] },
    { name: "deploy", run: "x", needs: ["shard"] },
    { name: "after-summary", run: "x", needs: ["summary"] },
  ],
};

Deno.test("a shard fails: `always` and `on_failure` run once every shard ended, the rest is skipped, the job fails", () =>
  withDir(async (open) => {
    const tracker = await open();
    const { agentId } = await tracker.registerAgent(AGENT);
    const { jobId } = await tracker.submitJob(SHARDED);
    const shards = await claimAll(tracker, agentId);
    assert.deepEqual(shards.map((a) => a.name), ["shard[0]", "shard[1]", "shard[2]"]);
    await report(tracker, agentId, [finished(shards[0], 1), finished(shards[1], 0)]);
    // One shard still runs: nothing after the shards starts yet, but deploy is skipped already.
    assert.deepEqual(await claimAll(tracker, agentId), []);
    let tasks = (await getJob(tracker, jobId)).tasks;
    assert.equal(tasks.find((t) => t.name === "deploy")!.reason, 'skipped: "shard" did not succeed');
    assert.equal(tasks.find((t) => t.name === "summary")!.state, "queued");
    const after = await report(tracker, agentId, [finished(shards[2], 0)]);
    assert.deepEqual(after.map((a) => a.name).sort(), ["alert", "summary"]);
    // The summary sees each shard's outcome through its needs (outputs by copy).
    const summary = after.find((a) => a.name === "summary")!;
    assert.equal((summary.needs.shard as unknown[]).length, 3);
    const next = await report(tracker, agentId, after.map((a) => finished(a, 0)));
    assert.deepEqual(next.map((a) => a.name), ["after-summary"]);
    await report(tracker, agentId, [finished(next[0], 0)]);
    const job = await getJob(tracker, jobId);
    tasks = job.tasks;
    assert.equal(job.state, "failed", "a failed shard fails the job, whatever ran after it");
    assert.deepEqual(
      tasks.map((t) => [t.name, t.state]),
      [
        ["shard[0]", "failed"],
        ["shard[1]", "succeeded"],
        ["shard[2]", "succeeded"],
        ["summary", "succeeded"],
        ["alert", "succeeded"],
        ["deploy", "skipped"],
        ["after-summary", "succeeded"],
      ],
    );
  }));

Deno.test("every shard succeeds: `on_failure` is skipped saying why (skipped, not failed, while the job runs), the job succeeds, and rerun --failed has nothing to run", () =>
  withDir(async (open) => {
    const tracker = await open();
    const { agentId } = await tracker.registerAgent(AGENT);
    const { jobId } = await tracker.submitJob(SHARDED);
    const shards = await claimAll(tracker, agentId);
    const after = await report(tracker, agentId, shards.map((a) => finished(a, 0)));
    assert.deepEqual(after.map((a) => a.name).sort(), ["deploy", "summary"]);
    // The dashboard's progress while summary and deploy run: alert's skip is no failure.
    const running = await getJobPage(tracker, jobId, { offset: 0, limit: 50 });
    assert.equal(running.job.state, "running");
    assert.equal(running.templates?.get("alert")?.state, "skipped");
    assert.equal(running.templates?.get("shard")?.state, "succeeded");
    const last = await report(tracker, agentId, after.map((a) => finished(a, 0)));
    await report(tracker, agentId, last.map((a) => finished(a, 0)));
    const job = await getJob(tracker, jobId);
    const alert = job.tasks.find((t) => t.name === "alert")!;
    assert.equal(alert.state, "skipped");
    assert.equal(alert.reason, 'skipped: "shard" succeeded (it runs only when that does not)');
    assert.equal(job.state, "succeeded");
    // Nothing of it failed: the skipped alert would be skipped again.
    const rerun = await tracker.rerunJob(jobId, { failedOnly: true, submitter: TRACKER_ITSELF }).catch((e) => e);
    assert.ok(rerun instanceof Error, "a job that succeeded has nothing to run again");
    assert.equal((rerun as { code?: string }).code, "conflict");
    assert.match(rerun.message, /succeeded: it has no failed/);
  }));

Deno.test("a task waiting `always` on shards, one failed, runs after a restart once the last shard ends", () =>
  withDir(async (open) => {
    const first = await open();
    const { agentId } = await first.registerAgent(AGENT);
    const { jobId } = await first.submitJob({
      name: "restart",
      tasks: [
        { name: "shard", run: "x", count: 2 },
        { name: "summary", run: "x", needs: [{ task: "shard", when: "always" }] },
      ],
    });
    const shards = await claimAll(first, agentId);
    await report(first, agentId, [finished(shards[0], 1)]);
    await first.close();
    const second = await open();
    // The agent comes back with the shard it still runs.
    const after = await report(second, agentId, [finished(shards[1], 0)]);
    assert.deepEqual(after.map((a) => a.name), ["summary"]);
    await report(second, agentId, [finished(after[0], 0)]);
    assert.equal((await getJob(second, jobId)).state, "failed");
  }));

Deno.test("artifacts a task asks for come with its attempt: one copy at the top, copies of a fan-out in folders, after a restart too", () =>
  withDir(async (open) => {
    const first = await open();
    const { agentId } = await first.registerAgent(AGENT);
    await first.submitJob({
      name: "pipe",
      tasks: [
        { name: "build", run: "x", artifacts: ["out/*"] },
        { name: "shard", run: "x", count: 2, artifacts: { paths: ["r.xml"], when: "always" } },
        { name: "lint", run: "x" },
        {
          name: "package",
          run: "x",
          needs: [{ task: "build", artifacts: true }, "lint", { task: "shard", when: "always" }],
          artifactsFrom: ["shard"],
        },
      ],
    });
    const started = await claimAll(first, agentId);
    const by = (name: string) => started.find((a) => a.name === name)!;
    const empty = (path: string) => ({ path, sha256: EMPTY_SHA256, size: 0 });
    await report(first, agentId, [
      finished(by("build"), 0, [empty("out/app")]),
      finished(by("shard[0]"), 1, [empty("r.xml")]),
      finished(by("lint"), 0),
    ]);
    await first.close();
    const second = await open();
    const [pkg] = await report(second, agentId, [finished(by("shard[1]"), 0, [empty("r.xml")])]);
    assert.equal(pkg.name, "package");
    assert.deepEqual(pkg.inputs, [
      { task: "build", copy: "build", folder: "", artifacts: [empty("out/app")] },
      { task: "shard", copy: "shard[0]", folder: "shard/0", artifacts: [empty("r.xml")] },
      { task: "shard", copy: "shard[1]", folder: "shard/1", artifacts: [empty("r.xml")] },
    ]);
    assert.deepEqual(Object.keys(pkg.needs).sort(), ["build", "lint", "shard"]);
  }));
