/**
 * Several trackers on one PostgreSQL (issue #17), under faults: a follower killed, every tracker
 * killed in turn, PostgreSQL restarted, the leader cut off from it. Each ends with every task of a
 * running job ended once, as its first attempt, and its log whole. Real trackers, agents and
 * PostgreSQL, on loopback (hot_trackers_test.ts has the lease, forwarding and the leader's kill -9).
 */
import assert from "node:assert/strict";
import type { JobDetail, TrackerView } from "../src/protocol/mod.ts";
import { assertLogs, assertRanOnce, countedJob, leaderOf, withHotCluster } from "../testing/hot_cluster.ts";
import { startProxy, type TcpProxy } from "./chaos/proxy.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

// Short, to keep the tests short, yet long enough that a loaded machine (CI on 2 cores) does not lose
// a lease between two renewals (it stops leading when a renewal is late by about half of it).
const LEASE_MS = 5000;

Deno.test({
  name:
    "agents and clients take lists and learn the rest: kill -9 of a follower mid-job, its agent moves on by itself, every task ran once",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 3, lease: `${LEASE_MS}ms` }, async (cluster) => {
      const [t0, t1, t2] = cluster.trackers;
      // The join command a tracker prints lists the trackers sharing its store (the line after the one
      // startTracker waited for: it may not have been read yet).
      await t2.daemon!.waitForOutput(new RegExp(`--join ${t2.address},(${t0.address}|${t1.address}),`), 10_000);
      const runs = await cluster.runsFile();
      // The followers list each other before the agents come (an agent asks again only every minute: one
      // that joined tracker 1 before it heard of tracker 2 learnt two of three, and the wait below ran out).
      for (const follower of [1, 2]) {
        await waitFor(`tracker ${follower} to list all three`, async () => {
          return (await cluster.json<TrackerView[]>(follower, ["trackers"])).length === 3;
        }, { timeoutMs: 20_000 });
      }
      // Each agent is given one follower; it learns the others from it, and keeps them.
      cluster.startAgent({ name: "a1", join: t1.address });
      cluster.startAgent({ name: "a2", join: t2.address });
      const saved = await waitFor("a1 to learn the trackers", async () => {
        const identity = JSON.parse(await Deno.readTextFile(`${cluster.agentDir("a1")}/agent.json`));
        return identity.trackers?.length === 3 ? identity.trackers as string[] : undefined;
      }, { timeoutMs: 30_000 });
      assert.deepEqual([...saved].sort(), [t0.address, t1.address, t2.address].sort());
      assert.equal(saved[0], t1.address, "the one it talks to first");

      const jobId = await cluster.submit(1, countedJob("moved", 16, runs, "2"), "moved.json");
      await waitFor("a1 to run tasks", async () => {
        const job = await cluster.json<JobDetail>(1, ["status", jobId]);
        return job.tasks.some((t) => t.agent === "a1" && t.state === "running");
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await cluster.stopTracker(1, "SIGKILL");

      // A client given a list whose first tracker is gone goes on to the next.
      const env = { FABRIC_TRACKER: `${t1.url},${t2.url}` };
      const listed = await cluster.cli(0, ["trackers", "--json"], { env });
      assert.equal(listed.code, 0, listed.stderr);
      const done = await waitFor("the job to end", async () => {
        const job = await cluster.json<JobDetail>(0, ["status", jobId]);
        return job.state === "succeeded" ? job : undefined;
      }, { timeoutMs: 90_000, intervalMs: 300 });
      assertRanOnce(await runs.lines(), done);
      assert.ok(done.tasks.filter((t) => t.agent === "a1").length >= 2, "a1 went on working");
      await cluster.agents.get("a1")!.waitForOutput(
        /Cannot reach the tracker at https:\/\/127\.0\.0\.1:\d+: .* \(next: /,
      );
    }),
});

Deno.test({
  name: "every tracker killed -9 in turn mid-job and restarted: the job ends, every task ran once, its log kept",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 3, lease: `${LEASE_MS}ms` }, async (cluster) => {
      const runs = await cluster.runsFile();
      cluster.startAgent({ name: "a1" });
      cluster.startAgent({ name: "a2" });
      // Gated: the job cannot end before the last kill, however slow the machine; each kill comes once
      // the job has moved on since the last (two more tasks let end), with others running.
      const jobId = await cluster.submit(0, countedJob("turns", 12, runs, "0.2", { gated: true }), "turns.json");
      let allowed = 0;
      for (const i of [0, 1, 2]) {
        const via = (i + 1) % 3;
        allowed += 2;
        await runs.openGate(allowed);
        await waitFor(`${allowed} tasks to end before tracker ${i} is killed`, async () => {
          const job = await cluster.json<JobDetail>(via, ["status", jobId]);
          return job.counts.succeeded >= allowed && job.counts.running > 0;
        }, { timeoutMs: 60_000, intervalMs: 200 });
        const leader = await leaderOf(cluster, via);
        await cluster.stopTracker(i, "SIGKILL");
        // The leader killed, another takes over before it is back (back at once, it would take its lease again).
        if (leader === i) {
          await waitFor(`a tracker other than ${i} to lead`, async () => {
            const next = await leaderOf(cluster, via);
            return next !== undefined && next !== i;
          }, { timeoutMs: 5 * LEASE_MS, intervalMs: 200 });
        }
        await cluster.startTracker(i);
      }
      await runs.openGate(12);
      const done = await cluster.waitForJob(0, jobId, 120_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
      assertRanOnce(await runs.lines(), done);
      await assertLogs(cluster, done);
    }),
});

Deno.test({
  name:
    "PostgreSQL restarted mid-job: the trackers answer 503 saying why, the agents keep their reports, and everything is delivered",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms` }, async (cluster, server) => {
      const runs = await cluster.runsFile();
      cluster.startAgent({ name: "a1" });
      cluster.startAgent({ name: "a2" });
      const jobId = await cluster.submit(0, countedJob("outage", 16, runs, "1.5"), "outage.json");
      await waitFor("some tasks to run", async () => {
        const job = await cluster.json<JobDetail>(0, ["status", jobId]);
        return job.counts.running > 0;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await server.pause();
      // Longer than the lease: the leader stops leading, and nobody can take the lease meanwhile.
      const away = await cluster.cli(1, ["status", jobId]);
      assert.notEqual(away.code, 0);
      assert.match(away.stderr, /fabric status: .*(store|leads|lead)/i, "it says why");
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 1000));
      await server.resume();
      const done = await cluster.waitForJob(1, jobId, 120_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
      assertRanOnce(await runs.lines(), done);
      await assertLogs(cluster, done);
    }),
});

Deno.test({
  name:
    "a leader cut off from the database stops leading once its lease has run out, its successor's placements stand, and back it follows",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    let proxy: TcpProxy | null = null;
    try {
      await withHotCluster({
        trackers: 2,
        lease: `${LEASE_MS}ms`,
        // Tracker 0 reaches PostgreSQL through a proxy the test cuts.
        storeOf: (i, url) => {
          if (i !== 0) return url;
          const target = new URL(url);
          proxy ??= startProxy({ targetPort: Number(target.port) });
          target.port = String(proxy.port);
          return target.toString();
        },
      }, async (cluster) => {
        assert.equal(await cluster.leads(0), 1);
        const runs = await cluster.runsFile();
        cluster.startAgent({ name: "a1" });
        cluster.startAgent({ name: "a2" });
        const jobId = await cluster.submit(0, countedJob("cut", 16, runs, "1.5"), "cut.json");
        await waitFor("some tasks to run", async () => {
          const job = await cluster.json<JobDetail>(1, ["status", jobId]);
          return job.counts.running > 0;
        }, { timeoutMs: 60_000, intervalMs: 200 });
        proxy!.cut("refuse");
        // It stops by its own clock (a fifth of the lease before the store's end of it: lease_test.ts),
        // not at a refused write, which it cannot even send; then the other takes the lease.
        await cluster.trackers[0].daemon!.waitForOutput(
          /no longer leads \(epoch 1\): its lease ran out (by this tracker's clock|before the store renewed it)/,
          5 * LEASE_MS,
        );
        assert.equal(await cluster.leads(1, 5 * LEASE_MS), 2);
        const second = await cluster.submit(1, countedJob("placed-by-1", 4, runs, "0.2"), "second.json");
        proxy!.heal();
        const done = await cluster.waitForJob(1, jobId, 120_000);
        assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
        const also = await cluster.waitForJob(1, second, 60_000);
        assertRanOnce(await runs.lines(), done);
        assertRanOnce(await runs.lines(), also);
        await assertLogs(cluster, done, 1);
        // Back, it follows: tracker 1 leads, and tracker 0 answers by forwarding to it.
        const listed = await waitFor("tracker 0 to be listed again", async () => {
          const trackers = await cluster.json<TrackerView[]>(0, ["trackers"]);
          const roles = Object.fromEntries(trackers.map((t) => [t.url, t.role]));
          return roles[cluster.trackers[0].url] === "follower" && roles[cluster.trackers[1].url] === "leader"
            ? roles
            : undefined;
        }, { timeoutMs: 30_000, intervalMs: 500 });
        assert.ok(listed);
        assert.equal((await cluster.json<JobDetail>(0, ["status", second])).state, "succeeded");
        assert.doesNotMatch(cluster.output(0), /leads \(epoch [2-9]/, "it never led again");
      });
    } finally {
      await (proxy as TcpProxy | null)?.close();
    }
  },
});
