/** Graceful stops: draining agents (remotely and on SIGTERM) and a tracker stopped with SIGTERM. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const jobOf = (cluster: Cluster, jobId: string) => cluster.json<JobDetail>(["status", jobId]);
const stateOf = async (cluster: Cluster, name: string) =>
  (await cluster.json<AgentView[]>(["agents"])).find((a) => a.name === name)!.state;

Deno.test({
  name: "fabric agents drain: no new work, running tasks handed back after the grace, resume undoes it",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }] });
  try {
    const jobId = await cluster.submit(`name: drained
tasks:
  - name: long
    agents: [a1]
    run: |
      echo "attempt $FABRIC_ATTEMPT on $FABRIC_AGENT"
      sleep 30
`);
    await waitFor("the task to run on a1", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    const drained = await cluster.cli(["agents", "drain", "a1", "--grace", "1s"]);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /agent a1 draining: 1 running task\(s\) are handed back at/);
    assert.equal(await stateOf(cluster, "a1"), "draining");
    const other = await cluster.submit("name: elsewhere\ntasks:\n  - {name: t, run: echo fine}\n", "other.yaml");
    const placed = await cluster.waitForJob(other);
    assert.equal(placed.tasks[0].agent, "a2");
    const handedBack = await waitFor("the task to be handed back and wait for a1", async () => {
      const task = (await jobOf(cluster, jobId)).tasks[0];
      return task.attempt === 2 && task.state === "queued" ? task : undefined;
    });
    assert.equal(handedBack.reason, "every agent that could take it is draining");
    const detail = await cluster.json<TaskDetail>(["status", handedBack.id]);
    assert.deepEqual([detail.attempts[0].state, detail.attempts[0].reason], ["lost", "handed back: agent a1 drained"]);
    await waitFor("a1 to stop the handed-back copy", async () => {
      const logs = await cluster.cli(["logs", handedBack.id, "--attempt", "1"]);
      return logs.stdout === "attempt 1 on a1\n";
    });

    assert.equal((await cluster.cli(["agents", "resume", "a1"])).code, 0);
    assert.equal(await stateOf(cluster, "a1"), "ready");
    await waitFor("attempt 2 to run on a1", async () => {
      const task = (await jobOf(cluster, jobId)).tasks[0];
      return task.state === "running" && task.attempt === 2 && task.agent === "a1";
    });
    assert.equal((await cluster.cli(["cancel", jobId])).code, 0);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "SIGTERM drains an agent: its running task finishes within the grace, then it leaves",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--stop-grace", "60s"] }, { name: "a2" }] });
  try {
    // The task runs until the test lets it end, once the agent is draining (a timed task could end
    // between two polls of a loaded machine, before the SIGTERM).
    const gate = await Deno.makeTempDir({ dir: cluster.root, prefix: "gate-" });
    await Deno.chmod(gate, 0o777);
    const jobId = await cluster.submit(`name: finishing
permissions: {read: ["${gate}"]}
tasks:
  - name: short
    agents: [a1]
    run: |
      i=0; while [ ! -e ${gate}/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
      echo "done on $FABRIC_AGENT"
  - name: later
    needs: [short]
    run: echo "later on $FABRIC_AGENT"
`);
    await waitFor("the task to run", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    const a1 = cluster.agents.get("a1")!;
    a1.kill("SIGTERM");
    await a1.waitForOutput(/stopping: 1 running task\(s\) may finish until/);
    await Deno.writeTextFile(`${gate}/go`, "");
    const status = await a1.exited;
    assert.equal(status.code, 0, a1.describe());
    const job = await cluster.waitForJob(jobId);
    assert.deepEqual(job.tasks.map((t) => [t.name, t.agent, t.attempt]), [["short", "a1", 1], ["later", "a2", 1]]);
    assert.equal(await stateOf(cluster, "a1"), "down");
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "SIGTERM with a task longer than the grace hands it back, and it runs elsewhere",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--stop-grace", "1s"] }, { name: "a2" }] });
  try {
    const jobId = await cluster.submit(`name: moved
tasks:
  - name: long
    exclude: [a2]
    lostRetries: 0
    run: echo "attempt $FABRIC_ATTEMPT on $FABRIC_AGENT" && sleep 4
`);
    await waitFor("the task to run on a1", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    // Let it run anywhere now, so the handed-back attempt has somewhere to go.
    const a1 = cluster.agents.get("a1")!;
    a1.kill("SIGTERM");
    const status = await a1.exited;
    assert.equal(status.code, 0, a1.describe());
    const task = (await jobOf(cluster, jobId)).tasks[0];
    assert.equal(task.attempt, 2, "handed back, not failed: lostRetries 0 is not used up");
    assert.equal(task.state, "queued");
    assert.match(task.reason!, /handed back|exclude|a2/);
    const restarted = cluster.startAgent({ name: "a1" });
    await restarted.waitForOutput(/joined/);
    const done = await cluster.waitForJob(jobId, { timeoutMs: 30_000 });
    assert.equal(done.tasks[0].attempt, 2);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "SIGTERM to the tracker finishes what is in flight and closes the store cleanly",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const jobId = await cluster.submit("name: quick\ntasks:\n  - {name: t, run: echo hi}\n");
    await waitFor("the job", async () => (await jobOf(cluster, jobId)).state === "succeeded");
    cluster.tracker.kill("SIGTERM");
    const status = await cluster.tracker.exited;
    assert.equal(status.code, 0);
    assert.match(cluster.tracker.stderr, /SIGTERM: finishing requests and closing the store/);
    // A clean close checkpoints the WAL into the database: nothing is left to replay.
    const wal = await Deno.stat(join(cluster.trackerDir, "fabric.db-wal")).then((s) => s.size, () => 0);
    assert.equal(wal, 0);
    await cluster.startTracker();
    assert.equal((await jobOf(cluster, jobId)).state, "succeeded");
  } finally {
    await cluster.stop();
  }
});
