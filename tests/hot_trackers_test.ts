/**
 * Several trackers on one PostgreSQL (issue #17): one leads, under a lease in the database; the
 * others take over when it goes. Real trackers, agents and PostgreSQL, on loopback.
 */
import assert from "node:assert/strict";
import type { JobDetail, TrackerView } from "../src/protocol/mod.ts";
import { LeaseLostError } from "../src/store/mod.ts";
import { startTrackerServer } from "../src/tracker/mod.ts";
import { type HotCluster, withHotCluster } from "../testing/hot_cluster.ts";
import { startProxy, type TcpProxy } from "./chaos/proxy.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";
import { PostgresServer } from "../testing/postgres.ts";

const LEASE_MS = 3000;

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
        Deno.kill(cluster.trackers[0].daemon!.pid, "SIGSTOP");
        try {
          const stalled = await fetch(`${follower.url}/v1/jobs`, {
            headers: admin,
            client: http,
            signal: AbortSignal.timeout(60_000),
          });
          // Either the follower took over meanwhile (200), or it could not reach the leader (503).
          assert.ok([200, 503].includes(stalled.status), `${stalled.status}`);
          await stalled.body?.cancel();
          assert.ok((await cluster.leads(1, 3 * LEASE_MS)) >= 2);
          assert.equal((await get("/v1/jobs", admin)).status, 200, "the new leader answers itself");
        } finally {
          Deno.kill(cluster.trackers[0].daemon!.pid, "SIGCONT");
        }
        // The old leader, woken, finds its lease gone at its next write or renewal, and follows.
        await cluster.trackers[0].daemon!.waitForOutput(/no longer leads \(epoch 1\)/, 3 * LEASE_MS);
        assert.equal((await get("/v1/jobs", admin)).status, 200);
      } finally {
        http.close();
      }
    }),
});

/**
 * A job whose tasks append `start ID ATTEMPT` and `end ID ATTEMPT` to `runsFile` around their output
 * (three lines) and a sleep, so that a test counts how often each task ran and checks its log.
 */
function countedJob(name: string, count: number, runs: { dir: string; file: string }, sleep = "0.8"): string {
  const mark = (what: string) => `echo "${what} $FABRIC_TASK_ID $FABRIC_ATTEMPT" >> ${runs.file}`;
  return JSON.stringify({
    name,
    permissions: { write: [runs.dir] },
    tasks: [{
      name: "t",
      count,
      run: [
        mark("start"),
        'for i in 1 2 3; do echo "line $i of $FABRIC_TASK_INDEX"; done',
        `sleep ${sleep}`,
        mark("end"),
      ]
        .join("\n"),
    }],
  });
}

/** Each task's log is its three lines, read through tracker `via`. */
async function assertLogs(cluster: HotCluster, job: JobDetail, via = 0): Promise<void> {
  for (const task of job.tasks) {
    const log = (await cluster.cli(via, ["logs", task.id])).stdout;
    assert.equal(log, [1, 2, 3].map((i) => `line ${i} of ${task.index}\n`).join(""), `the log of ${task.id}`);
  }
}

/** The index of the tracker listed as leading, asked through tracker `via` (undefined when none leads). */
async function leaderOf(cluster: HotCluster, via: number): Promise<number | undefined> {
  const listed = await cluster.json<TrackerView[]>(via, ["trackers"]);
  const url = listed.find((tracker) => tracker.role === "leader")?.url;
  const index = cluster.trackers.findIndex((tracker) => tracker.url === url);
  return index < 0 ? undefined : index;
}

/** Each task's runs, from the runs file: started and ended exactly once, as attempt 1. */
function assertRanOnce(lines: string[], job: JobDetail): void {
  for (const task of job.tasks) {
    const runs = lines.filter((line) => line.split(" ")[1] === task.id);
    assert.deepEqual(runs, [`start ${task.id} 1`, `end ${task.id} 1`], `the runs of ${task.id}`);
  }
}

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
  name:
    "agents and clients take lists and learn the rest: kill -9 of a follower mid-job, its agent moves on by itself, every task ran once",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 3, lease: `${LEASE_MS}ms` }, async (cluster) => {
      const [t0, t1, t2] = cluster.trackers;
      // The join command a tracker prints lists the trackers sharing its store.
      assert.match(cluster.output(2), new RegExp(`--join ${t2.address},(${t0.address}|${t1.address}),`));
      const runs = await cluster.runsFile();
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
      const jobId = await cluster.submit(0, countedJob("turns", 40, runs, "1.5"), "turns.json");
      // Each kill comes once the job has moved on since the last (asked through a tracker that is up).
      let succeeded = 0;
      for (const i of [0, 1, 2]) {
        const via = (i + 1) % 3;
        succeeded = await waitFor(`the job to go on before tracker ${i} is killed`, async () => {
          const job = await cluster.json<JobDetail>(via, ["status", jobId]);
          return job.counts.succeeded > succeeded && job.counts.running > 0 ? job.counts.succeeded : undefined;
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
      const done = await cluster.waitForJob(0, jobId, 120_000);
      assert.ok(succeeded < 40, "the last kill came mid-job");
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
