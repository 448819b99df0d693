/**
 * A follower holds its agents' claim long polls itself and carries them to the leader in one pool
 * (src/tracker/claim_relay.ts, claim_pools.ts): real trackers on a real PostgreSQL, real agents joined
 * only to followers, on loopback.
 */
import assert from "node:assert/strict";
import type { JobDetail } from "../src/protocol/mod.ts";
import { assertRanOnce, countedJob, postsAnswered, withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

const LEASE_MS = 3000;

Deno.test({
  name:
    "agents on a follower only: their claims are pooled at the leader, never forwarded one by one; each task runs once; an agent killed -9 holding a task, the task runs again elsewhere",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms`, heartbeat: "500ms", agentTtl: "3s" }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      const follower = cluster.trackers[1];
      const runs = await cluster.runsFile();
      const a1 = cluster.startAgent({ name: "a1", join: follower.address, slots: 2 });
      const a2 = cluster.startAgent({ name: "a2", join: follower.address, slots: 2 });
      const agents = { a1, a2 };

      // A job's tasks run on them, each once, with the leader holding no claim of theirs.
      const first = await cluster.submit(1, countedJob("first", 8, runs, "0.2"), "first.json");
      const done = await cluster.waitForJob(1, first, 90_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
      assertRanOnce(await runs.lines(), done);
      assert.equal(await postsAnswered(cluster, 0, "/v1/agent/claim"), 0, "no claim forwarded to the leader");
      assert.ok(await postsAnswered(cluster, 0, "/v1/trackers/claims") > 0, "claims pooled at the leader");

      // A task held by an agent killed -9 runs again on the other, as its second attempt.
      const gated = await cluster.submit(1, countedJob("held", 1, runs, "0", { gated: true }), "held.json");
      const held = await waitFor("the gated task to start", async () => {
        const job = await cluster.json<JobDetail>(1, ["status", gated]);
        const task = job.tasks[0];
        return task.state === "running" && task.agent ? task : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await agents[held.agent as "a1" | "a2"].stop("SIGKILL");
      await runs.openGate(1);
      const retried = await cluster.waitForJob(1, gated, 90_000);
      assert.equal(retried.state, "succeeded", JSON.stringify(retried.counts));
      assert.equal(retried.tasks[0].attempt, 2, "run again after its agent was lost");
      assert.notEqual(retried.tasks[0].agent, held.agent);
      const lines = (await runs.lines()).filter((line) => line.split(" ")[1] === held.id);
      assert.deepEqual(lines, [`start ${held.id} 1`, `start ${held.id} 2`, `end ${held.id} 2`]);
    }),
});

Deno.test({
  name:
    "the leader killed -9 while a follower's agents wait in its pool: their claims are answered empty, never refused, and the agents carry on through their follower in a new pool at the new leader",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 3, lease: `${LEASE_MS}ms`, heartbeat: "1s", agentTtl: "30s" }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      const runs = await cluster.runsFile();
      const agents = [1, 2].map((i) => cluster.startAgent({ name: `b${i}`, join: cluster.trackers[i].address }));
      const ready = async () =>
        (await cluster.json<Array<{ name: string; state: string }>>(0, ["agents"])).filter((a) => a.state === "ready")
          .length;
      await waitFor("both agents ready", async () => (await ready()) === 2 || undefined, { timeoutMs: 60_000 });
      await waitFor(
        "claims pooled at the leader",
        async () => (await postsAnswered(cluster, 0, "/v1/trackers/claims")) > 0,
      );
      // The agents stopped (SIGSTOP) with their claims held at their followers: what happens to a claim
      // while the leader is lost is the followers' doing alone (a stopped agent neither gives up nor moves).
      for (const agent of agents) Deno.kill(agent.pid, "SIGSTOP");
      await cluster.stopTracker(0, "SIGKILL");
      const successor = await Promise.any([1, 2].map(async (i) => (await cluster.leads(i, 5 * LEASE_MS), i)));
      const other = 3 - successor;
      for (const agent of agents) Deno.kill(agent.pid, "SIGCONT");
      // The agent's next claim (its held one was answered empty) goes in a new pool at the new leader.
      await waitFor(
        "the follower's pool at the new leader",
        async () => (await postsAnswered(cluster, successor, "/v1/trackers/claims")) > 0,
        { timeoutMs: 30_000 },
      );
      // Only the agent of the tracker that still follows may take work.
      const drained = await cluster.cli(successor, ["agents", "drain", `b${successor}`, "--grace", "1m"]);
      assert.equal(drained.code, 0, drained.stderr);
      const jobId = await cluster.submit(other, countedJob("after", 4, runs, "0.2"), "after.json");
      const done = await cluster.waitForJob(other, jobId, 90_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
      assert.deepEqual(done.tasks.map((t) => t.agent), Array(4).fill(`b${other}`));
      assertRanOnce(await runs.lines(), done);
      assert.doesNotMatch(agents[other - 1].describe(), /cannot claim work/, "its claims were never refused");
    }),
});
