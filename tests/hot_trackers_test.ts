/**
 * Several trackers on one PostgreSQL (issue #17): one leads, under a lease in the database; the
 * others take over when it goes. Real trackers, agents and PostgreSQL, on loopback.
 */
import assert from "node:assert/strict";
import type { JobDetail } from "../src/protocol/mod.ts";
import { LeaseLostError } from "../src/store/mod.ts";
import { startTrackerServer } from "../src/tracker/mod.ts";
import { HotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { PostgresServer } from "../testing/postgres.ts";

const LEASE_MS = 3000;

Deno.test({
  name:
    "one tracker leads, the other answers 503 naming it; killed -9, the other leads within the lease and its work goes on; a SIGTERM hands over at once; a leader restarted takes its lease back at once",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    const server = await PostgresServer.start();
    let cluster: HotCluster | null = null;
    try {
      cluster = await HotCluster.start({ store: await server.createDatabase(), trackers: 2, lease: `${LEASE_MS}ms` });
      assert.equal(await cluster.leads(0), 1);
      const leaderId = cluster.output(0).match(/this tracker \((\w+)\) leads/)![1];
      assert.match(cluster.output(0), /listening on .*; tracker \w+, leads\)/);
      assert.match(cluster.output(1), /listening on .*; tracker \w+, follows\)/);
      assert.match(cluster.output(1), /CA hash sha256:/, "the second joins the database with no other flag");
      assert.doesNotMatch(cluster.output(1), /leads/);

      // The follower: its CA for agents to pin; for the rest, which tracker leads.
      const refused = await cluster.cli(1, ["status"]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`does not place work now: tracker ${leaderId} does`));

      // An agent waits for the follower, which places nothing; the leader takes a job.
      cluster.startAgent({ name: "a1", join: cluster.trackers[1].address });
      const jobId = await cluster.submit(
        0,
        "name: handed\ntasks:\n  - {name: t, count: 3, run: echo ran $FABRIC_TASK_INDEX}\n",
      );
      const killedAt = Date.now();
      await cluster.stopTracker(0, "SIGKILL");
      assert.equal(await cluster.leads(1, 3 * LEASE_MS), 2);
      const tookOverMs = Date.now() - killedAt;
      assert.ok(tookOverMs < LEASE_MS + 2500, `took over ${tookOverMs} ms after the kill (lease ${LEASE_MS} ms)`);
      const done = await cluster.waitForJob(1, jobId);
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      assert.deepEqual(done.tasks.map((task) => task.attempt), [1, 1, 1]);

      // Back, the old leader follows; a stopped leader lets the lease go, and the other takes it at once.
      await cluster.startTracker(0);
      assert.match((await cluster.cli(0, ["status"])).stderr, /does not place work now/);
      const stoppedAt = Date.now();
      await cluster.stopTracker(1, "SIGTERM");
      assert.equal(await cluster.leads(0, 3 * LEASE_MS), 3);
      const handedOverMs = Date.now() - stoppedAt;
      assert.ok(handedOverMs < LEASE_MS, `handed over ${handedOverMs} ms after the SIGTERM`);
      const job = await cluster.json<JobDetail>(0, ["status", jobId]);
      assert.equal(job.state, "succeeded");

      // A leader killed and restarted takes its own lease back at once (its data directory names it),
      // under a new epoch: it leads before it listens, not a lease later.
      await cluster.stopTracker(0, "SIGKILL");
      await cluster.startTracker(0);
      assert.match(cluster.trackers[0].daemon!.stdout, /listening on .*; tracker \w+, leads\)/);
      assert.equal(await cluster.leads(0), 4);
    } catch (error) {
      if (cluster) console.error(cluster.describe());
      throw error;
    } finally {
      await cluster?.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: "a leader whose write is refused (its lease taken behind its back) steps down at once and writes nothing",
  ignore: lacks("postgres"),
  fn: async () => {
    const postgres = await PostgresServer.start();
    const dir = await Deno.makeTempDir({ prefix: "fabric-fenced-" });
    const lines: string[] = [];
    try {
      const url = await postgres.createDatabase();
      const server = await startTrackerServer({
        dataDir: dir,
        hostname: "127.0.0.1",
        port: 0,
        store: url,
        log: (line) => lines.push(line),
      });
      try {
        const leader = server.tracker!;
        assert.ok(leader, "alone on the database, it leads");
        const spec = { name: "j", tasks: [{ name: "t", run: "true" }] };
        await leader.submitJob(spec);
        await postgres.admin(
          new URL(url).pathname.slice(1),
          (sql) => sql`UPDATE leases SET holder = 'another', epoch = epoch + 1, expires_at = expires_at + 60000`,
        );
        await assert.rejects(leader.submitJob(spec), LeaseLostError);
        assert.equal(server.tracker, null, "it no longer leads");
        assert.ok(
          lines.some((line) =>
            /no longer leads \(epoch 1\): This tracker no longer leads: the lease of epoch 1/.test(line)
          ),
          lines.join("\n"),
        );
        const jobs = await postgres.admin(new URL(url).pathname.slice(1), (sql) => sql`SELECT id FROM jobs`);
        assert.equal(jobs.length, 1, "the refused job left nothing");
        await assert.rejects(leader.flush(), LeaseLostError, "its writer is abandoned");
      } finally {
        await server.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await postgres.stop();
    }
  },
});
