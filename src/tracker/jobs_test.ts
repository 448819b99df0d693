/** Job-file semantics in the tracker: dependencies, retries, outputs, priority, concurrency, placement rules. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AgentResources,
  type Capabilities,
  generateSigningKey,
  parsePrivateKey,
  signedPayload,
  signPayload,
  type TaskResult,
} from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { getJob, getTask } from "./queries.ts";
import { testClock } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

const CAPS: Capabilities = { sandbox: true, unsandboxed: false, cgroup: "v1", deno: true, git: true };

async function setup(options: { random?: () => number } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "fabric-jobs-test-" });
  const clock = testClock();
  const tracker = await Tracker.open({
    store: SqliteStore.open(join(dir, "fabric.db")),
    clock,
    heartbeatMs: 1000,
    ttlMs: 60_000,
    random: options.random,
  });
  const agent = async (
    name: string,
    more: {
      slots?: number;
      labels?: Record<string, string>;
      weight?: number;
      resources?: AgentResources;
      caps?: Partial<Capabilities>;
    } = {},
  ) =>
    (await tracker.registerAgent({
      name,
      slots: more.slots ?? 1,
      labels: more.labels ?? {},
      version: "t",
      os: "linux",
      arch: "x86_64",
      capabilities: { ...CAPS, ...more.caps },
      resources: more.resources ?? { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
      weight: more.weight,
    })).agentId;
  const claim = async (agentId: string) => (await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments;
  const finish = (agentId: string, taskId: string, attempt: number, result: TaskResult, output?: string) =>
    tracker.report(agentId, [
      { type: "started", taskId, attempt, at: clock.t },
      { type: "finished", taskId, attempt, at: clock.t, result, durationMs: 1, output },
    ]);
  const cleanup = async () => {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { tracker, clock, agent, claim, finish, cleanup };
}

const OK: TaskResult = { kind: "exited", code: 0 };
const FAIL: TaskResult = { kind: "exited", code: 1 };

Deno.test("a task waits for what it needs, gets its outputs, and a failed dependency skips the rest", async () => {
  const { tracker, agent, claim, finish, cleanup } = await setup();
  try {
    const a = await agent("a", { slots: 4 });
    const { jobId } = await tracker.submitJob({
      name: "dag",
      tasks: [
        { name: "build", run: "x", count: 2 },
        { name: "test", run: "x", needs: ["build"] },
        { name: "lint", run: "x" },
        { name: "deploy", run: "x", needs: ["test", "lint"] },
      ],
    });
    let job = await getJob(tracker, jobId);
    assert.equal(job.tasks.find((t) => t.name === "test")!.reason, 'waiting for "build"');
    const first = await claim(a);
    assert.deepEqual(first.map((x) => x.name).sort(), ["build[0]", "build[1]", "lint"]);
    // The report that frees a slot answers with the new work (no claim round trip).
    const next = [];
    for (const x of first) {
      next.push(...(await finish(a, x.taskId, 1, OK, JSON.stringify({ built: x.name }))).assignments);
    }
    assert.deepEqual(await claim(a), [], "the long poll does not send it again");
    const [test] = next;
    assert.equal(test.name, "test");
    assert.deepEqual(test.needs, {
      build: [
        { name: "build[0]", index: 0, matrix: null, state: "succeeded", output: { built: "build[0]" } },
        { name: "build[1]", index: 1, matrix: null, state: "succeeded", output: { built: "build[1]" } },
      ],
    });
    await finish(a, test.taskId, 1, FAIL);
    job = await getJob(tracker, jobId);
    const deploy = job.tasks.find((t) => t.name === "deploy")!;
    assert.equal(deploy.state, "skipped");
    assert.equal(deploy.reason, 'skipped: "test" did not succeed');
    assert.equal(deploy.startedAt, null);
    assert.equal(job.state, "failed");
    assert.deepEqual((await getTask(tracker, first[0].taskId)).output, { built: first[0].name });
  } finally {
    await cleanup();
  }
});

Deno.test("a failed task is retried after its backoff, and the attempt shows", async () => {
  const { tracker, clock, agent, claim, finish, cleanup } = await setup();
  try {
    const a = await agent("a");
    const { jobId } = await tracker.submitJob({
      name: "flaky",
      tasks: [{ name: "t", run: "x", retries: 2, backoff: { delay: "2s", factor: 3, max: "5s" } }],
    });
    let [task] = await claim(a);
    await finish(a, task.taskId, 1, FAIL);
    let view = (await getJob(tracker, jobId)).tasks[0];
    assert.equal(view.state, "queued");
    assert.equal(view.attempt, 2);
    assert.match(view.reason!, /retry 1 of 2 after exit code 1; next attempt after/);
    assert.deepEqual(await claim(a), [], "nothing before the backoff");
    clock.t += 2000;
    await tracker.checkLiveness();
    [task] = await claim(a);
    assert.equal(task.attempt, 2);
    await finish(a, task.taskId, 2, FAIL);
    clock.t += 4000;
    await tracker.checkLiveness();
    assert.deepEqual(await claim(a), [], "the second backoff is 2s x 3, capped at 5s");
    clock.t += 1000;
    await tracker.checkLiveness();
    [task] = await claim(a);
    assert.equal(task.attempt, 3);
    await finish(a, task.taskId, 3, OK);
    view = (await getJob(tracker, jobId)).tasks[0];
    assert.equal(view.state, "succeeded");
    const detail = await getTask(tracker, task.taskId);
    assert.deepEqual(detail.attempts.map((x) => x.state), ["failed", "failed", "succeeded"]);
  } finally {
    await cleanup();
  }
});

Deno.test("higher priority runs first, FIFO within a priority, and concurrency caps a job", async () => {
  const { tracker, agent, claim, cleanup } = await setup();
  try {
    const { jobId: low } = await tracker.submitJob({ name: "low", tasks: [{ name: "t", run: "x", count: 2 }] });
    const { jobId: high } = await tracker.submitJob({ name: "high", priority: 5, tasks: [{ name: "t", run: "x" }] });
    const { jobId: capped } = await tracker.submitJob({
      name: "capped",
      priority: 1,
      concurrency: 1,
      tasks: [{ name: "t", run: "x", count: 3 }],
    });
    const a = await agent("a", { slots: 3 });
    const got = await claim(a);
    assert.deepEqual(got.map((x) => x.jobId), [high, capped, low]);
    const job = await getJob(tracker, capped);
    assert.equal(job.tasks[1].reason, "the job runs at most 1 task(s) at once");
    // All three end in one report, so one scheduling pass fills the three free slots, and the
    // report's answer carries the new work.
    const { assignments: next } = await tracker.report(
      a,
      got.map((x) => ({ type: "finished" as const, taskId: x.taskId, attempt: 1, at: 0, result: OK, durationMs: 1 })),
    );
    assert.deepEqual(next.map((x) => x.jobId), [capped, low]);
  } finally {
    await cleanup();
  }
});

Deno.test("placement follows labels, pins, exclusions, resources and weights, and says why a task waits", async () => {
  const { tracker, agent, claim, cleanup } = await setup();
  try {
    const eu = await agent("eu-1", {
      slots: 2,
      labels: { zone: "eu" },
      resources: { cpu: 2, memory: 2 ** 30, disk: 0 },
    });
    const us = await agent("us-1", { slots: 2, labels: { zone: "us", gpu: "yes" }, weight: 3 });
    const small = await agent("small", { slots: 2, resources: { cpu: 1, memory: 2 ** 29, disk: 0 } });
    const { jobId } = await tracker.submitJob({
      name: "rules",
      tasks: [
        { name: "gpu", run: "x", constraints: [{ label: "gpu", exists: true }] },
        { name: "in-eu", run: "x", constraints: [{ label: "zone", equals: "eu" }] },
        { name: "pinned", run: "x", agents: ["small"] },
        { name: "not-us", run: "x", exclude: ["us-1", "small"] },
        { name: "big", run: "x", resources: { cpu: 2 } },
        { name: "mars", run: "x", constraints: [{ label: "zone", equals: "mars" }] },
      ],
    });
    const placed = new Map<string, string>();
    for (const [id, name] of [[eu, "eu-1"], [us, "us-1"], [small, "small"]]) {
      for (const x of await claim(id)) placed.set(x.name, name);
    }
    assert.equal(placed.get("gpu"), "us-1");
    assert.equal(placed.get("in-eu"), "eu-1");
    assert.equal(placed.get("pinned"), "small");
    assert.equal(placed.get("not-us"), "eu-1");
    // small has 1 CPU; eu-1 (2 CPUs) is full by then: 2 CPUs fit only on us-1.
    assert.equal(placed.get("big"), "us-1");
    const job = await getJob(tracker, jobId);
    assert.equal(job.tasks.find((t) => t.name === "mars")!.reason, "no ready agent matches zone == mars");
    const { jobId: more } = await tracker.submitJob({
      name: "more",
      tasks: [{ name: "t", run: "x", agents: ["eu-1"] }],
    });
    assert.equal((await getJob(tracker, more)).tasks[0].reason, "waiting for a free slot on 1 eligible agent(s)");
  } finally {
    await cleanup();
  }
});

Deno.test("weights tip placement (utilisation x weight) and can change live", async () => {
  const { tracker, agent, claim, cleanup } = await setup();
  try {
    const light = await agent("light", { slots: 4 });
    const heavy = await agent("heavy", { slots: 4, weight: 3 });
    await tracker.submitJob({ name: "w", tasks: [{ name: "t", run: "x", count: 4 }] });
    // light: (u+1)/4 x 1; heavy: (u+1)/4 x 3. light takes three before heavy's first looks cheaper.
    assert.equal((await claim(light)).length, 3);
    assert.equal((await claim(heavy)).length, 1);
    await tracker.setWeight("light", 10);
    const { jobId } = await tracker.submitJob({ name: "w2", tasks: [{ name: "t", run: "x", count: 2 }] });
    const ofW2 = async (id: string) => (await claim(id)).filter((x) => x.jobId === jobId).length;
    assert.equal(await ofW2(heavy), 2, "light now scores (3+1)/4 x 10");
    assert.equal(await ofW2(light), 0);
  } finally {
    await cleanup();
  }
});

// Four runs teach the tracker how long a template's tasks take; then short ones are held ahead on the
// agent (very short ones about 20 ms of work per slot, at most 16), long ones never.
for (
  const { durationMs, held } of [
    { durationMs: 50, held: 2 },
    { durationMs: 4, held: 5 },
    { durationMs: 1, held: 16 },
    { durationMs: 5000, held: 1 },
  ]
) {
  Deno.test(`tasks that take ${durationMs} ms are sent ${held} per slot once they have run a few times`, async () => {
    const { tracker, agent, claim, cleanup } = await setup();
    try {
      const a = await agent("a", { slots: 1 });
      const { jobId } = await tracker.submitJob({ name: "quick", tasks: [{ name: "t", run: "x", count: 30 }] });
      let [task] = await claim(a);
      for (let i = 0; i < 5; i++) {
        const { assignments } = await tracker.report(a, [
          { type: "finished", taskId: task.taskId, attempt: 1, at: 0, result: OK, durationMs },
        ]);
        assert.ok(assignments.length >= 1);
        task = assignments[0];
        if (i < 3) assert.equal(assignments.length, 1, "one per slot until they have proven short");
        else if (i === 3) assert.equal(assignments.length, held, "then as many as they may hold, per slot");
        else assert.equal(assignments.length, 1, "and one for each that ends");
      }
      assert.equal((await getJob(tracker, jobId)).counts.assigned, held);
    } finally {
      await cleanup();
    }
  });
}

Deno.test("select: all past 1,000,000 tasks in all is refused with a message, and nothing is stored", async () => {
  const { tracker, agent, cleanup } = await setup();
  try {
    for (let i = 0; i < 11; i++) await agent(`a${i}`);
    const spec = { name: "wide", tasks: [{ name: "t", run: "true", count: 100_000, select: "all" }] };
    await assert.rejects(tracker.submitJob(spec, { source: null, files: {} }), {
      code: "invalid_job",
      message: /"t" on each of 11 agents makes the job more than 1000000 tasks/,
    });
    assert.deepEqual(await tracker.store.listJobs({ limit: 10 }), []);
  } finally {
    await cleanup();
  }
});

Deno.test("a signed job goes, with its signature, only to agents that trust its key; a signature of another job is refused", async () => {
  const { tracker, agent, claim, cleanup } = await setup();
  try {
    const key = await parsePrivateKey((await generateSigningKey()).privatePem);
    const spec = { name: "signed", tasks: [{ name: "t", run: "make" }] };
    const payload = signedPayload(spec, {});
    const signature = await signPayload(key, payload);
    await assert.rejects(
      tracker.submitJob({ ...spec, name: "changed" }, { signature }),
      /The job's signature \(by ed25519:.{16}\) is not a signature of this job and its files/,
    );
    const other = await agent("other", { caps: { verifyKeys: ["A".repeat(43) + "="] } });
    const open = await agent("open");
    const strict = await agent("strict", { caps: { verifyKeys: [key.publicKey] } });
    const { jobId } = await tracker.submitJob(spec, { signature });
    assert.deepEqual(await claim(other), []);
    const [assignment] = [...await claim(strict), ...await claim(open)];
    assert.deepEqual(assignment.signed, { payload, ...signature });
    assert.equal((await getJob(tracker, jobId))!.signedBy, key.publicKey);
    const unsigned = await tracker.submitJob({ name: "unsigned", tasks: [{ name: "t", run: "x" }] });
    assert.deepEqual(await claim(strict), []);
    const detail = await getJob(tracker, unsigned.jobId);
    assert.equal(detail!.signedBy, null);
  } finally {
    await cleanup();
  }
});
