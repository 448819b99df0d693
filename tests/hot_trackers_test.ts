/**
 * Several trackers on one PostgreSQL (issue #17): one leads, under a lease in the database; the
 * others forward to it, and take over when it goes. Real trackers, agents and PostgreSQL, on loopback.
 * The faults (a follower, every tracker in turn, PostgreSQL, the leader cut off) are hot_trackers_faults_test.ts.
 */
import assert from "node:assert/strict";
import type { JobDetail, TrackerView } from "../src/protocol/mod.ts";
import { LeaseLostError } from "../src/store/mod.ts";
import { startTrackerServer } from "../src/tracker/mod.ts";
import { assertLogs, assertRanOnce, countedJob, withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";
import { PostgresServer } from "../testing/postgres.ts";

// Short, to keep the tests short, yet long enough that a loaded machine (CI on 2 cores) does not lose
// a lease between two renewals (it stops leading when a renewal is late by about half of it).
const LEASE_MS = 5000;

Deno.test({
  name:
    "one tracker leads, the other forwards to it; killed -9, the other leads within the lease and the work goes on; a SIGTERM hands over at once; a leader restarted takes its lease back at once",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms` }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      const [leader, follower] = cluster.trackers;
      assert.match(cluster.output(0), /listening on .*; tracker \w+, leads\)/);
      assert.match(cluster.output(1), /listening on .*; tracker \w+, follows\)/);
      assert.match(cluster.output(1), /CA hash sha256:/, "the second joins the database with no other flag");

      // Either tracker lists both; the follower answers that itself.
      const listed = await cluster.json<TrackerView[]>(1, ["trackers"]);
      const roles = Object.fromEntries(listed.map((t) => [t.url, t.role]));
      assert.deepEqual(roles, { [leader.url]: "leader", [follower.url]: "follower" });

      // An agent that knows only the follower joins through it; a job submitted there runs, followed to its end.
      cluster.startAgent({ name: "a1", join: follower.address });
      const file = await cluster.writeFile(
        "first.yaml",
        "name: first\ntasks:\n  - {name: t, count: 3, run: echo ran $FABRIC_TASK_INDEX}\n",
      );
      const waited = await cluster.cli(1, ["submit", file, "--wait", "--json"]);
      assert.equal(waited.code, 0, waited.stderr);
      const first = JSON.parse(waited.stdout) as JobDetail;
      assert.equal(first.state, "succeeded");
      assert.equal((await cluster.cli(1, ["logs", first.tasks[2].id])).stdout, "ran 2\n");

      // Killed -9, the leader's lease runs out and the follower takes over; the agent, on it already, goes on.
      // (How soon, by the lease's clocks, is lease_test.ts's: a wall-clock bound here would fail under load.)
      await cluster.stopTracker(0, "SIGKILL");
      assert.equal(await cluster.leads(1, 5 * LEASE_MS), 2);
      const second = await cluster.submit(1, "name: second\ntasks:\n  - {name: t, count: 2, run: echo again}\n");
      assert.equal((await cluster.waitForJob(1, second)).state, "succeeded");

      // Back, the old leader follows and forwards; a stopped leader lets the lease go, taken at once.
      await cluster.startTracker(0);
      assert.match(cluster.trackers[0].daemon!.stdout, /follows\)/);
      assert.equal((await cluster.json<JobDetail>(0, ["status", second])).state, "succeeded");
      await cluster.stopTracker(1, "SIGTERM");
      assert.doesNotMatch(cluster.output(1), /the lease could not be let go/);
      assert.equal(await cluster.leads(0, 5 * LEASE_MS), 3);
      assert.equal((await cluster.json<JobDetail>(0, ["status", first.id])).state, "succeeded");

      // A leader killed and restarted takes its own lease back at once (its data directory names it),
      // under a new epoch: it leads before it listens, not a lease later.
      await cluster.stopTracker(0, "SIGKILL");
      await cluster.startTracker(0);
      assert.match(cluster.trackers[0].daemon!.stdout, /listening on .*; tracker \w+, leads\)/);
      assert.equal(await cluster.leads(0), 4);
    }),
});

Deno.test({
  name:
    "a follower lets through only what authenticates, never forwards a forwarded request, and says when the leader cannot be reached",
  ignore: lacks("postgres"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms` }, async (cluster) => {
      const follower = cluster.trackers[1];
      const caPem = await Deno.readTextFile(`${cluster.trackers[0].dir}/ca.pem`);
      const http = Deno.createHttpClient({ caCerts: [caPem] });
      const get = async (path: string, headers: Record<string, string>) => {
        const response = await fetch(`${follower.url}${path}`, { headers, client: http });
        return { status: response.status, body: await response.json() };
      };
      try {
        const none = await get("/v1/jobs", {});
        assert.equal(none.status, 401);
        assert.match(none.body.error.message, /A token is required/);
        const wrong = await get("/v1/jobs", { authorization: "Bearer fabric-admin-made-up" });
        assert.equal(wrong.status, 401);
        assert.match(wrong.body.error.message, /not accepted by this tracker/);
        const forged = await get("/v1/jobs", { authorization: "Bearer nosuchagent.secret" });
        assert.equal(forged.status, 401, "an agent credential nobody registered");
        const admin = { authorization: `Bearer ${cluster.adminToken}` };
        assert.equal((await get("/v1/jobs", admin)).status, 200, "forwarded");
        const again = await get("/v1/jobs", { ...admin, "x-fabric-forwarded-by": "someone" });
        assert.equal(again.status, 503);
        assert.match(again.body.error.message, /no longer leads \(tracker someone sent this here\)/);
        // The leader stopped without a word (SIGSTOP): forwarding fails with the reason, then the lease moves.
        const reader = await cluster.cli(0, ["token", "create", "--role", "read", "--name", "reader"]);
        assert.equal(reader.code, 0, reader.stderr);
        const readToken = { authorization: `Bearer ${reader.stdout.trim()}` };
        Deno.kill(cluster.trackers[0].daemon!.pid, "SIGSTOP");
        try {
          // The follower applies the route table itself, with the principal the leader would find: the
          // leader cannot answer now, so these answers are the follower's own.
          const submit = await fetch(`${follower.url}/v1/jobs`, {
            method: "POST",
            headers: { ...readToken, "content-type": "application/json" },
            body: JSON.stringify({ name: "j", tasks: [{ name: "t", run: "true" }] }),
            client: http,
          });
          const refused = await submit.json();
          assert.equal(submit.status, 403, JSON.stringify(refused));
          assert.match(
            refused.error.message,
            /Submitting a job needs the submit role; this token \("reader"\) has the read role/,
          );
          const none = await get("/v1/nothing", readToken);
          assert.equal(none.status, 404, JSON.stringify(none.body));
          const join = await get("/v1/jobs", { authorization: `Bearer ${cluster.joinToken}` });
          assert.equal(join.status, 403, "the join token only registers agents");
          for (const probe of ["/healthz", "/readyz"]) {
            const answer = await fetch(`${follower.url}${probe}`, { client: http });
            assert.equal(`${answer.status} ${await answer.text()}`, "200 ok\n", `the follower's own ${probe}`);
          }
          const listed = await get("/v1/trackers", readToken);
          assert.equal(listed.status, 200, "the follower lists the trackers itself");
          assert.equal(listed.body.trackers.length, 2);
          const stalled = await fetch(`${follower.url}/v1/jobs`, {
            headers: admin,
            client: http,
            signal: AbortSignal.timeout(60_000),
          });
          // Either the follower took over meanwhile (200), or it could not reach the leader (503).
          assert.ok([200, 503].includes(stalled.status), `${stalled.status}`);
          await stalled.body?.cancel();
          assert.ok((await cluster.leads(1, 5 * LEASE_MS)) >= 2);
          assert.equal((await get("/v1/jobs", admin)).status, 200, "the new leader answers itself");
        } finally {
          Deno.kill(cluster.trackers[0].daemon!.pid, "SIGCONT");
        }
        // The old leader, woken, finds its lease gone at its next write or renewal, and follows.
        await cluster.trackers[0].daemon!.waitForOutput(/no longer leads \(epoch 1\)/, 5 * LEASE_MS);
        assert.equal((await get("/v1/jobs", admin)).status, 200);
      } finally {
        http.close();
      }
    }),
});

Deno.test({
  name:
    "kill -9 of the leader mid-job (three trackers, two agents): another leads within the lease, and every task ran once, its result and log kept",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 3, lease: `${LEASE_MS}ms` }, async (cluster) => {
      await cluster.leads(0);
      const runs = await cluster.runsFile();
      // Each agent knows one follower (agents that take a list of trackers are step 4).
      cluster.startAgent({ name: "a1", join: cluster.trackers[1].address });
      cluster.startAgent({ name: "a2", join: cluster.trackers[2].address });
      const jobId = await cluster.submit(1, countedJob("steady", 16, runs), "steady.json");
      await waitFor("some tasks to finish", async () => {
        const job = await cluster.json<JobDetail>(1, ["status", jobId]);
        return job.counts.succeeded >= 3 && job.counts.running > 0;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await cluster.stopTracker(0, "SIGKILL");
      const successor = await Promise.any([1, 2].map(async (i) => (await cluster.leads(i, 5 * LEASE_MS), i)));

      const done = await cluster.waitForJob(3 - successor, jobId, 90_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done.counts));
      assert.deepEqual(done.tasks.map((task) => [task.state, task.attempt]), Array(16).fill(["succeeded", 1]));
      assertRanOnce(await runs.lines(), done);
      await assertLogs(cluster, done, successor);
    }),
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
        // Found out by the refused write, or by a renewal of the lease that came just before it (either
        // steps down at once; the renewer's turn falls between the two in about one run of a hundred).
        assert.ok(
          lines.some((line) =>
            /no longer leads \(epoch 1\): (This tracker no longer leads: the lease of epoch 1|the store no longer has its lease)/
              .test(line)
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

Deno.test({
  name:
    "a client that submits while the leader is gone (killed -9, its lease not yet run out) waits for the new leader: one job, no error",
  ignore: lacks("postgres"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms` }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      await cluster.stopTracker(0, "SIGKILL");
      // At once, through the follower alone: it still names the dead leader (its lease has time left),
      // whose connection is refused, and then no leader at all until it takes over itself.
      const file = await cluster.writeFile("during.yaml", "name: during\ntasks:\n  - {name: t, run: 'true'}\n");
      const submitted = await cluster.cli(1, ["submit", file]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const jobs = await cluster.json<Array<{ id: string; name: string }>>(1, ["status"]);
      assert.deepEqual(jobs.map((job) => [job.id, job.name]), [[submitted.stdout.trim(), "during"]], "sent once");
      assert.equal(await cluster.leads(1, 5 * LEASE_MS), 2);
    }),
});
