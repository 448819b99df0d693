/** A tracker on PostgreSQL: its CA and tokens live in the database, so another data directory serves the same fabric. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../src/protocol/mod.ts";
import { PostgresStore } from "../src/store/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { PostgresServer } from "../testing/postgres.ts";
import { Daemon } from "../testing/process.ts";

Deno.test({
  name:
    "on PostgreSQL: a second tracker at once follows; a later one with a new data directory has the same CA, tokens and jobs; another CA is refused",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    const server = await PostgresServer.start();
    const clusters: Cluster[] = [];
    try {
      const url = await server.createDatabase();
      const first = await Cluster.start({ agents: [{ name: "a1" }], store: url });
      clusters.push(first);
      assert.match(first.tracker.stdout, /Agents join with:/, "the first start on an empty database makes the tokens");
      const jobId = await first.submit("name: kept\ntasks:\n  - {name: t, run: echo kept}\n");
      const done = await first.waitForJob(jobId);
      // A second tracker, while the first runs, joins the database as a follower (hot_trackers_test.ts).
      const otherDir = await Deno.makeTempDir({ dir: first.root, prefix: "second-" });
      const second = new Daemon("second tracker", ["tracker", "--listen", "127.0.0.1:0", "--data-dir", otherDir], {
        FABRIC_STORE: url,
      });
      try {
        await second.waitForOutput(/listening on https.*follows\)/);
        assert.equal((await second.waitForOutput(/CA hash (sha256:\w+)/))[1], first.caHash);
        assert.doesNotMatch(second.stdout + second.stderr, /leads/);
      } finally {
        await second.stop();
      }
      await first.agents.get("a1")!.stop();
      await first.tracker.stop();
      // The CA's key stays in the database: the directory holds what clients read.
      const files = [...Deno.readDirSync(first.trackerDir)].map((entry) => entry.name);
      assert.ok(files.includes("ca.pem") && files.includes("admin.token") && !files.includes("ca.key"), `${files}`);
      assert.ok(!files.includes("fabric.db"));

      const next = await Cluster.start({ store: url });
      clusters.push(next);
      assert.doesNotMatch(next.tracker.stdout, /Agents join with:/);
      assert.equal(next.caHash, first.caHash);
      assert.equal(next.adminToken, first.adminToken);
      assert.equal(next.joinToken, first.joinToken);
      assert.deepEqual(await next.json<JobDetail>(["status", jobId]), done);
      assert.equal((await next.cli(["logs", done.tasks[0].id])).stdout, "kept\n");
      await next.tracker.stop();

      // A directory whose CA is not the database's: agents pinned to one would refuse the other.
      const other = await Cluster.start({});
      clusters.push(other);
      await other.tracker.stop();
      const caBefore = await Deno.readTextFile(join(other.trackerDir, "ca.pem"));
      const refused = new Daemon("tracker", ["tracker", "--listen", "127.0.0.1:0", "--data-dir", other.trackerDir], {
        FABRIC_STORE: url,
      });
      const status = await refused.exited;
      assert.equal(status.code, 1, refused.describe());
      assert.match(refused.stderr, /holds a CA \(ca\.pem\) other than the store's/);
      assert.equal(await Deno.readTextFile(join(other.trackerDir, "ca.pem")), caBefore, "nothing changed");
    } finally {
      for (const cluster of clusters) await cluster.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "on PostgreSQL: a rotated join token and a reset admin token reach the store's secrets, and another data directory gets them",
  ignore: lacks("postgres"),
  fn: async () => {
    const server = await PostgresServer.start();
    const clusters: Cluster[] = [];
    try {
      const url = await server.createDatabase();
      const first = await Cluster.start({ store: url });
      clusters.push(first);
      const rotated = await first.cli(["token", "rotate-join"]);
      assert.equal(rotated.code, 0, rotated.stderr);
      const reset = await first.cli(["tracker", "reset-admin-token", "--data-dir", first.trackerDir], {
        env: { FABRIC_STORE: url },
      });
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stderr, /the running tracker \(pid \d+\) accepts it and refuses the old one/);
      assert.equal((await first.cli(["status"], { env: { FABRIC_TOKEN: first.adminToken } })).code, 3);
      await first.tracker.stop();

      const next = await Cluster.start({ store: url });
      clusters.push(next);
      assert.equal(next.adminToken, reset.stdout.trim());
      assert.equal(next.joinToken, rotated.stdout.trim());
      assert.equal((await next.cli(["status"])).code, 0);
    } finally {
      for (const cluster of clusters) await cluster.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "on PostgreSQL: a submission acknowledged is in the store after kill -9 of the tracker: the job, its placement and its audit entry",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    const server = await PostgresServer.start();
    let cluster: Cluster | null = null;
    try {
      const url = await server.createDatabase();
      cluster = await Cluster.start({ agents: [{ name: "a1" }], store: url });
      const jobId = await cluster.submit("name: acked\ntasks:\n  - {name: t, run: sleep 30}\n");
      // At once after the answer: nothing the tracker writes later may be counted on.
      cluster.tracker!.kill("SIGKILL");
      await cluster.tracker!.exited;
      const store = await PostgresStore.open(url);
      try {
        assert.equal((await store.getJob(jobId))?.name, "acked");
        const [task] = await store.listTasks(jobId);
        assert.notEqual(task.state, "queued", "the placement, stored before the answer");
        assert.notEqual(task.agentId, null);
        const entries = await store.listAudit({ limit: 10, actionPrefix: "job.submit" });
        assert.deepEqual(entries.map((entry) => [entry.target, entry.outcome]), [[jobId, "ok"]]);
      } finally {
        await store.close();
      }
    } finally {
      await cluster?.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "on PostgreSQL over its unix socket (?host=DIR in the URL): the tracker runs a job, and its connections are not TCP",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    const server = await PostgresServer.start();
    let cluster: Cluster | undefined;
    try {
      const tcp = new URL(await server.createDatabase());
      const database = tcp.pathname.slice(1);
      // No password: the test server trusts its socket (as peer authentication would a local role).
      const url = `postgres://fabric@localhost:${tcp.port}/${database}?host=${encodeURIComponent(server.root)}`;
      cluster = await Cluster.start({ agents: [{ name: "a1" }], store: url });
      const jobId = await cluster.submit("name: socket\ntasks:\n  - {name: t, run: echo over the socket}\n");
      const done = await cluster.waitForJob(jobId);
      assert.equal(done.state, "succeeded", cluster.describe());
      assert.equal((await cluster.cli(["logs", done.tasks[0].id])).stdout, "over the socket\n");
      const sessions = await server.admin(
        database,
        (sql) =>
          sql`SELECT client_addr, client_port FROM pg_stat_activity WHERE application_name LIKE 'fabric tracker%'`,
      );
      assert.ok(sessions.length > 0, "the tracker is connected");
      // A unix socket's session has no client address; a TCP one, 127.0.0.1.
      for (const session of sessions) assert.deepEqual([session.client_addr, session.client_port], [null, -1]);
    } finally {
      await cluster?.stop();
      await server.stop();
    }
  },
});

Deno.test("a password in --store is refused before anything starts, and not shown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-store-flag-" });
  try {
    const refused = new Daemon("tracker", [
      "tracker",
      "--listen",
      "127.0.0.1:0",
      "--data-dir",
      dir,
      "--store",
      "postgres://fabric:hunter2@127.0.0.1:1/fabric",
    ]);
    assert.equal((await refused.exited).code, 2);
    assert.match(refused.stderr, /--store must not hold a password: .* FABRIC_STORE, or the password in PGPASSWORD/);
    assert.doesNotMatch(refused.stderr, /hunter2/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
