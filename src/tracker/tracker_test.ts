/** The tracker's logic against a real SQLite file, with time injected instead of slept. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { getJob, getTask } from "./queries.ts";
import { TEST_AGENT, testClock } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fabric-tracker-test-" });
  const clock = testClock();
  let ids = 0;
  const open = async () =>
    await Tracker.open({
      store: SqliteStore.open(join(dir, "fabric.db")),
      clock,
      newId: () => `id${ids++}`,
      heartbeatMs: 1000,
      ttlMs: 3000,
    });
  const tracker = await open();
  const cleanup = async (t: Tracker) => {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { tracker, clock, open, cleanup };
}

async function agent(tracker: Tracker, name: string, slots = 1): Promise<string> {
  return (await tracker.registerAgent({ name, slots, ...TEST_AGENT })).agentId;
}

function job(count: number, run = "true") {
  return { name: "j", tasks: [{ name: "t", run, count }] };
}

Deno.test("each task is claimed by one agent only, and a task waits while every agent is full", async () => {
  const { tracker, cleanup } = await setup();
  try {
    const agents = await Promise.all(["a", "b", "c"].map((n) => agent(tracker, n, 2)));
    const { jobId } = await tracker.submitJob(job(8));
    const claims = await Promise.all(agents.map((id) => tracker.claim(id, { holding: [], waitMs: 0 })));
    const claimed = claims.flatMap((c) => c.assignments.map((a) => a.taskId));
    assert.equal(claimed.length, 6);
    assert.equal(new Set(claimed).size, 6);
    assert.deepEqual(claims.map((c) => c.assignments.length), [2, 2, 2]);
    const detail = await getJob(tracker, jobId);
    assert.equal(detail.counts.assigned, 6);
    assert.equal(detail.counts.queued, 2);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("an agent that misses its heartbeats is down and its tasks are queued again with attempt + 1", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    const { jobId } = await tracker.submitJob(job(1));
    const [task] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(a, [{ type: "started", taskId: task.taskId, attempt: 1, at: clock.t }]);
    const b = await agent(tracker, "b");

    clock.t += 2000;
    await tracker.heartbeat(b, { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 });
    await tracker.checkLiveness();
    assert.equal((await getJob(tracker, jobId)).tasks[0].state, "running", "within the TTL nothing happens");

    clock.t += 1500;
    await tracker.heartbeat(b, { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 });
    await tracker.checkLiveness();
    const [again] = (await tracker.claim(b, { holding: [], waitMs: 0 })).assignments;
    assert.equal(again.taskId, task.taskId);
    assert.equal(again.attempt, 2);
    const detail = await getTask(tracker, task.taskId);
    assert.deepEqual(detail.attempts.map((x) => [x.attempt, x.agent, x.state]), [[1, "a", "lost"], [
      2,
      "b",
      "assigned",
    ]]);

    // The old attempt's report is refused; the current one is taken.
    const stale = await tracker.report(a, [{
      type: "finished",
      taskId: task.taskId,
      attempt: 1,
      at: clock.t,
      result: { kind: "exited", code: 0 },
      durationMs: 5,
    }]);
    assert.deepEqual(stale.stale, [{ taskId: task.taskId, attempt: 1 }]);
    assert.equal((await getTask(tracker, task.taskId)).state, "assigned");
    const fresh = await tracker.report(b, [{
      type: "finished",
      taskId: task.taskId,
      attempt: 2,
      at: clock.t,
      result: { kind: "exited", code: 0 },
      durationMs: 5,
    }]);
    assert.deepEqual(fresh.stale, []);
    assert.equal((await getJob(tracker, jobId)).state, "succeeded");

    // The silent agent comes back.
    await tracker.heartbeat(a, { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 });
    assert.equal(tracker.state.agents.get(a)!.record.state, "ready");
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("heartbeats due to be written are written by the periodic sweep in one commit, not each as it comes", async () => {
  const { tracker, clock, open, cleanup } = await setup();
  let reopened: Tracker | null = null;
  try {
    const ids = await Promise.all(["a", "b", "c"].map((n) => agent(tracker, n)));
    await tracker.flush();
    clock.t += 31_000; // past the 30 s an unchanged agent's last heartbeat is kept in memory
    const commits = tracker.metrics.commits.count;
    const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 };
    for (const id of ids) await tracker.heartbeat(id, load);
    assert.equal(tracker.writer.pending, false, "a heartbeat marks nothing for the store itself");
    assert.equal(tracker.metrics.commits.count, commits);
    const heartbeatAt = clock.t;
    clock.t += 500;
    await tracker.checkLiveness(0);
    assert.equal(tracker.metrics.commits.count, commits + 1, "the three written in one commit");
    await tracker.close();
    reopened = await open();
    for (const id of ids) assert.equal(reopened.state.agents.get(id)!.record.lastHeartbeat, heartbeatAt);
  } finally {
    if (reopened) await cleanup(reopened);
    else await cleanup(tracker);
  }
});

Deno.test("a heartbeat waits for no commit but the one of what it changed (its agent back from down)", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const [a, b] = await Promise.all(["a", "b"].map((n) => agent(tracker, n)));
    await tracker.flush();
    const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 };
    // Another change marked for the store, not yet committed: the heartbeat is answered without it.
    tracker.writer.agent(tracker.state.agents.get(b)!.record);
    let pendingAtAnswer: boolean | null = null;
    await tracker.heartbeat(a, load).then(() => pendingAtAnswer = tracker.writer.pending);
    assert.equal(pendingAtAnswer, true);
    await tracker.flush();
    // Silent past the TTL: down. Its next heartbeat brings it back, answered once that is stored.
    clock.t += 5000;
    await tracker.heartbeat(b, load);
    await tracker.checkLiveness(0);
    assert.equal(tracker.state.agents.get(a)!.record.state, "down");
    await tracker.heartbeat(a, load).then(() => pendingAtAnswer = tracker.writer.pending);
    assert.equal(tracker.state.agents.get(a)!.record.state, "ready");
    assert.equal(pendingAtAnswer, false);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("cancel ends queued tasks at once and tells the agent to stop running ones", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    const { jobId } = await tracker.submitJob(job(3));
    const [task] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(a, [{ type: "started", taskId: task.taskId, attempt: 1, at: clock.t }]);
    const result = await tracker.cancelJob(jobId);
    assert.deepEqual(result, { jobId, cancelled: 2, stopping: 1 });
    const orders = await tracker.claim(a, { holding: [{ taskId: task.taskId, attempt: 1 }], waitMs: 0 });
    assert.deepEqual(orders, { assignments: [], stop: [{ taskId: task.taskId, attempt: 1 }] });
    assert.equal((await getJob(tracker, jobId)).state, "running");
    await tracker.report(a, [{
      type: "finished",
      taskId: task.taskId,
      attempt: 1,
      at: clock.t,
      result: { kind: "cancelled" },
      durationMs: 10,
    }]);
    const detail = await getJob(tracker, jobId);
    assert.equal(detail.state, "cancelled");
    assert.deepEqual(detail.tasks.map((t) => t.state), ["cancelled", "cancelled", "cancelled"]);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("a restarted tracker has its jobs, placements and logs back from the store", async () => {
  const { tracker, clock, open, cleanup } = await setup();
  let current = tracker;
  try {
    const a = await agent(tracker, "a", 2);
    const { jobId } = await tracker.submitJob(job(3));
    const claimed = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    const [first, second] = claimed;
    await tracker.report(a, [
      { type: "started", taskId: first.taskId, attempt: 1, at: clock.t },
      {
        type: "output",
        taskId: first.taskId,
        attempt: 1,
        at: clock.t,
        chunks: [{ seq: 0, stream: "stdout", data: "hi\n" }],
      },
      {
        type: "finished",
        taskId: first.taskId,
        attempt: 1,
        at: clock.t,
        result: { kind: "exited", code: 0 },
        durationMs: 1,
      },
      { type: "started", taskId: second.taskId, attempt: 1, at: clock.t },
    ]);
    // A crash: the store goes away with whatever was not yet committed.
    tracker.writer.stop();
    await tracker.store.close();

    // A crash: whatever was not committed (the third task's placement, made after the report) is gone.
    current = await open();
    // The agent, still holding the running task, is not sent it again; the queued third one is placed.
    const again = await current.claim(a, { holding: [{ taskId: second.taskId, attempt: 1 }], waitMs: 0 });
    assert.deepEqual(again.assignments.map((x) => x.taskId), [`${jobId}.2`]);
    const detail = await getJob(current, jobId);
    assert.deepEqual(detail.tasks.map((t) => [t.state, t.agent]), [["succeeded", "a"], ["running", "a"], [
      "assigned",
      "a",
    ]]);
    const rows = await current.store.readLogs(first.taskId, 1, -1, 10);
    assert.deepEqual(rows.map((r) => r.data), ["hi\n"]);
  } finally {
    await cleanup(current);
  }
});

Deno.test("an invalid job is refused with every problem named, and nothing is stored", async () => {
  const { tracker, cleanup } = await setup();
  try {
    await assert.rejects(
      tracker.submitJob({ name: "x", tasks: [{ name: "a", run: "", count: 0 }] }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "invalid_job");
        assert.match(error.message, /"tasks\[0\]\.run" must not be empty/);
        assert.match(error.message, /"tasks\[0\]\.count" must be at least 1/);
        return true;
      },
    );
    assert.deepEqual(await tracker.store.listJobs({ limit: 10 }), []);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("a long poll still open when its agent goes down does not bring the agent back", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    const { jobId } = await tracker.submitJob(job(1));
    const [task] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(a, [{ type: "started", taskId: task.taskId, attempt: 1, at: clock.t }]);
    const pending = tracker.claim(a, { holding: [{ taskId: task.taskId, attempt: 1 }], waitMs: 5000 });
    clock.t += 10_000;
    await tracker.checkLiveness();
    assert.deepEqual(await pending, { assignments: [], stop: [] });
    assert.equal(tracker.state.agents.get(a)!.record.state, "down");
    const view = (await getJob(tracker, jobId)).tasks[0];
    assert.deepEqual([view.state, view.attempt, view.agent], ["queued", 2, null]);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("work sent in a report's answer that the agent never got is sent again through its long poll", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    await tracker.submitJob(job(2));
    const [first] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    const holding = [{ taskId: first.taskId, attempt: 1 }];
    const waiting = tracker.claim(a, { holding, waitMs: 60_000 });
    const answer = await tracker.report(a, [{
      type: "finished",
      taskId: first.taskId,
      attempt: 1,
      at: clock.t,
      result: { kind: "exited", code: 0 },
      durationMs: 1,
    }]);
    assert.equal(answer.assignments.length, 1, "the next task rides on the report's answer");
    // That answer is lost. The open long poll does not send the work at once (nor a stop for the task
    // the agent just finished), but does send it after the re-offer delay.
    const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 1, freeSlots: 0 };
    for (let second = 0; second < 6; second++) {
      clock.t += 1000;
      await tracker.heartbeat(a, load);
      await tracker.checkLiveness();
    }
    const again = await waiting;
    assert.deepEqual(again.stop, []);
    assert.deepEqual(again.assignments.map((x) => x.taskId), [answer.assignments[0].taskId]);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("a task handed over in a report's answer is stopped through the long poll opened before it", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    const { jobId } = await tracker.submitJob(job(2));
    const [first] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    // The agent's long poll names only the first task: the second comes in the report's answer.
    const waiting = tracker.claim(a, { holding: [{ taskId: first.taskId, attempt: 1 }], waitMs: 3000 });
    const answer = await tracker.report(a, [{
      type: "finished",
      taskId: first.taskId,
      attempt: 1,
      at: clock.t,
      result: { kind: "exited", code: 0 },
      durationMs: 1,
    }]);
    const [second] = answer.assignments;
    await tracker.report(a, [{ type: "started", taskId: second.taskId, attempt: 1, at: clock.t }]);
    assert.deepEqual(await tracker.cancelJob(jobId), { jobId, cancelled: 0, stopping: 1 });
    // Before: the poll answered nothing until its wait ran out, and the task ran on meanwhile.
    assert.deepEqual(await waiting, { assignments: [], stop: [{ taskId: second.taskId, attempt: 1 }] });
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("a stop order is sent once while the agent stops the task, and again only after a while", async () => {
  const { tracker, clock, cleanup } = await setup();
  try {
    const a = await agent(tracker, "a");
    const { jobId } = await tracker.submitJob(job(1));
    const [task] = (await tracker.claim(a, { holding: [], waitMs: 0 })).assignments;
    await tracker.report(a, [{ type: "started", taskId: task.taskId, attempt: 1, at: clock.t }]);
    await tracker.cancelJob(jobId);
    const holding = [{ taskId: task.taskId, attempt: 1 }];
    const stop = [{ taskId: task.taskId, attempt: 1 }];
    assert.deepEqual((await tracker.claim(a, { holding, waitMs: 0 })).stop, stop);
    // The task takes its grace to end: the agent's next poll waits instead of being answered the same
    // order at once, again and again (before, it was: a busy loop for as long as the task's grace).
    assert.deepEqual(await tracker.claim(a, { holding, waitMs: 100 }), { assignments: [], stop: [] });
    clock.t += 1_000;
    assert.deepEqual((await tracker.claim(a, { holding, waitMs: 0 })).stop, stop);
  } finally {
    await cleanup(tracker);
  }
});

Deno.test("a select: all copy whose agent is down fails, naming the agent, so the job ends; with lostAfter it waits that long", async () => {
  const { tracker, clock, cleanup } = await setup();
  const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 1, running: 0, freeSlots: 1 };
  try {
    const a = await agent(tracker, "a");
    const b = await agent(tracker, "b");
    const spec = (name: string, lostAfter?: string) => ({
      name,
      tasks: [{ name: "t", run: "true", select: "all", ...(lostAfter ? { lostAfter } : {}) }],
    });
    const { jobId } = await tracker.submitJob(spec("everywhere"));
    const patient = (await tracker.submitJob(spec("patient", "10s"))).jobId;
    // b runs its copies; a takes nothing and then goes silent.
    for (const task of (await tracker.claim(b, { holding: [], waitMs: 0 })).assignments) {
      await tracker.report(b, [{
        type: "finished",
        taskId: task.taskId,
        attempt: task.attempt,
        at: clock.t,
        result: { kind: "exited", code: 0 },
        durationMs: 1,
      }]);
    }
    assert.ok(a);
    clock.t += 3500;
    await tracker.heartbeat(b, load);
    await tracker.checkLiveness();
    const detail = await getJob(tracker, jobId);
    assert.equal(detail.state, "failed");
    const copy = detail.tasks.find((t) => t.name === "t@a")!;
    assert.equal(copy.state, "failed");
    assert.match(copy.reason ?? "", /agent a is down, and this copy runs only there \(select: all\)/);
    assert.equal(detail.tasks.find((t) => t.name === "t@b")!.state, "succeeded");

    const patientCopy = async () => (await getJob(tracker, patient)).tasks.find((t) => t.name === "t@a")!;
    assert.equal((await patientCopy()).state, "queued", "lostAfter: 10s waits for the agent");
    clock.t += 10_000;
    await tracker.heartbeat(b, load);
    await tracker.checkLiveness();
    assert.equal((await patientCopy()).state, "failed");
  } finally {
    await cleanup(tracker);
  }
});
