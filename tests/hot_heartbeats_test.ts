/**
 * A follower answers its agents' heartbeats itself and sends them on to the leader in batches
 * (src/tracker/heartbeat_relay.ts): real trackers on a real PostgreSQL, real agents joined only to the
 * follower, on loopback.
 */
import assert from "node:assert/strict";
import type { AgentView } from "../src/protocol/mod.ts";
import { type HotCluster, postsAnswered, withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

const HEARTBEAT_MS = 300;
const TTL_MS = 1500;
const LEASE_MS = 5000;

async function agent(cluster: HotCluster, via: number, name: string): Promise<AgentView | undefined> {
  return (await cluster.json<AgentView[]>(via, ["agents"])).find((a) => a.name === name);
}

Deno.test({
  name:
    "an agent on a follower only: its heartbeats reach the leader in batches, never one by one; it stays ready over several TTLs, a drain at the leader reaches it, killed -9 it goes down, removed it is refused, and its follower leading it goes on",
  ignore: lacks("postgres"),
  fn: () =>
    withHotCluster({
      trackers: 2,
      lease: `${LEASE_MS}ms`,
      heartbeat: `${HEARTBEAT_MS}ms`,
      agentTtl: `${TTL_MS}ms`,
    }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      const follower = cluster.trackers[1];
      const a1 = cluster.startAgent({ name: "a1", join: follower.address });
      await waitFor("a1 ready at the leader", async () => (await agent(cluster, 0, "a1"))?.state === "ready");

      // Over several TTLs the leader keeps hearing from it (its last heartbeat moves on), through batches:
      // the leader answers no heartbeat of its own (a forwarded one would count here).
      const relayedBefore = await postsAnswered(cluster, 0, "/v1/trackers/heartbeats");
      const seen = new Set<string>();
      const states: string[] = [];
      const first = Date.parse((await agent(cluster, 0, "a1"))!.lastHeartbeat!);
      await waitFor("a1's heartbeats to reach the leader over 3 TTLs", async () => {
        const view = (await agent(cluster, 0, "a1"))!;
        states.push(view.state);
        seen.add(view.lastHeartbeat!);
        return Date.parse(view.lastHeartbeat!) > first + 3 * TTL_MS ? true : undefined;
      }, { timeoutMs: 60_000, intervalMs: 250 });
      assert.deepEqual(states.filter((s) => s !== "ready"), [], "a1 stays ready at the leader");
      assert.ok(seen.size >= 3, `the leader heard from a1 again and again (${seen.size})`);
      assert.equal(await postsAnswered(cluster, 0, "/v1/agent/heartbeat"), 0, "no heartbeat forwarded to the leader");
      assert.ok(
        (await postsAnswered(cluster, 0, "/v1/trackers/heartbeats")) > relayedBefore,
        "batches reach the leader",
      );

      // A drain made at the leader shows in the agent's next answers, from its follower; a resume too.
      assert.equal((await cluster.cli(0, ["agents", "drain", "a1", "--grace", "1m"])).code, 0);
      await a1.waitForOutput(/draining: no new work/, 20_000);
      assert.equal((await cluster.cli(0, ["agents", "resume", "a1"])).code, 0);
      await a1.waitForOutput(/resumed: taking work again/, 20_000);

      // Killed -9, it goes down at the leader: what the follower knew of it does not keep it alive.
      await a1.stop("SIGKILL");
      await waitFor("a1 down at the leader", async () => (await agent(cluster, 0, "a1"))?.state === "down", {
        timeoutMs: 30_000,
      });
      assert.match(cluster.output(0), /agent a1 missed its heartbeats for \d+ms: down/);

      // Removed at the leader, an agent on the follower is refused there and stops, saying so.
      const a2 = cluster.startAgent({ name: "a2", join: follower.address });
      await waitFor("a2 ready at the leader", async () => (await agent(cluster, 0, "a2"))?.state === "ready");
      assert.equal((await cluster.cli(0, ["agents", "remove", "a2"])).code, 0);
      await a2.waitForOutput(/refused this agent's credential/, 30_000);
      assert.notEqual((await a2.exited).code, 0, "a2 stopped, refused");

      // The leader killed -9: the follower leads, and answers its agent's heartbeats itself as leader.
      const a3 = cluster.startAgent({ name: "a3", join: follower.address });
      await waitFor("a3 ready at the leader", async () => (await agent(cluster, 0, "a3"))?.state === "ready");
      await cluster.stopTracker(0, "SIGKILL");
      assert.equal(await cluster.leads(1, 5 * LEASE_MS), 2);
      // Past its TTL under the new leader, it is still ready: its heartbeats reach it.
      const led = await waitFor("a3 heard from by the new leader", async () => {
        const view = await agent(cluster, 1, "a3");
        return view?.state === "ready" && view.lastHeartbeat ? view.lastHeartbeat : undefined;
      });
      const after: string[] = [];
      await waitFor("a3 heard from again, a TTL later", async () => {
        const view = (await agent(cluster, 1, "a3"))!;
        after.push(view.state);
        return Date.parse(view.lastHeartbeat!) > Date.parse(led) + TTL_MS ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      assert.deepEqual(after.filter((s) => s !== "ready"), [], "a3 stays ready under its new leader");
      assert.doesNotMatch(a3.describe(), /refused this agent's credential/);
    }),
});
