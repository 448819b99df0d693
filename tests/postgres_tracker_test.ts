/** A tracker on PostgreSQL: its CA and tokens live in the database, so another data directory serves the same fabric. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacksPostgres, PostgresServer } from "../testing/postgres.ts";
import { Daemon } from "../testing/process.ts";

Deno.test({
  name:
    "a tracker with a new data directory on the same database has the same CA, tokens and jobs; another CA is refused",
  ignore: lacksPostgres(),
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
      await first.agents.get("a1")!.stop();
      await first.tracker.stop();
      // The CA's key stays in the database: the directory holds what clients read.
      const files = [...Deno.readDirSync(first.trackerDir)].map((entry) => entry.name);
      assert.ok(files.includes("ca.pem") && files.includes("admin.token") && !files.includes("ca.key"), `${files}`);
      assert.ok(!files.includes("fabric.db"));

      const second = await Cluster.start({ store: url });
      clusters.push(second);
      assert.doesNotMatch(second.tracker.stdout, /Agents join with:/);
      assert.equal(second.caHash, first.caHash);
      assert.equal(second.adminToken, first.adminToken);
      assert.equal(second.joinToken, first.joinToken);
      assert.deepEqual(await second.json<JobDetail>(["status", jobId]), done);
      assert.equal((await second.cli(["logs", done.tasks[0].id])).stdout, "kept\n");
      await second.tracker.stop();

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
