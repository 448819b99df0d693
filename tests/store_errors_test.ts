/** Store errors answer 503 with a message, are logged, change nothing, and the tracker recovers: on SQLite and PostgreSQL. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { AuditEntry, JobDetail, JobSummary } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";
import { STORES, type StoreUnderTest, withStore } from "../testing/stores.ts";

const JOB = "name: small\ntasks:\n  - {name: t, run: echo stored}\n";

/** How a test makes the store refuse writes, and lets it take them again. */
interface Outage {
  begin(): Promise<void>;
  end(): Promise<void>;
  /** What the refusal says. */
  message: RegExp;
}

function outageOf(store: StoreUnderTest, cluster: Cluster): Outage {
  if (store.kind === "postgres") {
    // PostgreSQL stopped (a fast shutdown: the tracker's connections are closed) and started again.
    return {
      begin: () => store.server!.pause(),
      end: () => store.server!.resume(),
      message: /ECONNREFUSED|terminating connection/,
    };
  }
  let locker: DatabaseSync | null = null;
  return {
    begin: () => {
      locker = new DatabaseSync(join(cluster.trackerDir, "fabric.db"));
      locker.exec("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE");
      return Promise.resolve();
    },
    end: () => {
      locker?.exec("ROLLBACK");
      locker?.close();
      locker = null;
      return Promise.resolve();
    },
    message: /database is locked/,
  };
}

for (const kind of STORES) {
  Deno.test({
    name: `the store away: 503 and nothing submitted, the tracker stays up, then it recovers (${kind.kind})`,
    ignore: lacks("bwrap", ...kind.needs),
  }, () =>
    withStore(kind, async (store) => {
      const cluster = await Cluster.start({ agents: [{ name: "a1" }], store: store.url });
      const file = await cluster.writeFile("small.yaml", JOB);
      const outage = outageOf(store, cluster);
      try {
        await outage.begin();
        try {
          const refused = await cluster.cli(["submit", file]);
          assert.equal(refused.code, 3, "a tracker that cannot serve now: try again");
          assert.match(refused.stderr, /^fabric submit: The store could not write: /);
          assert.match(refused.stderr, outage.message);
          await cluster.tracker.waitForOutput(/store write failed: The store could not write: /);
          assert.equal((await cluster.cli(["agents"])).code, 0, "the tracker is still up");
        } finally {
          await outage.end();
        }

        const accepted = await cluster.cli(["submit", file, "--wait", "--json"]);
        assert.equal(accepted.code, 0, accepted.stderr);
        const jobs = await cluster.json<JobSummary[]>(["status"]);
        assert.equal(jobs.length, 1, "the refused submission left nothing behind");
        assert.equal((JSON.parse(accepted.stdout) as JobDetail).state, "succeeded");
        await cluster.tracker.waitForOutput(/store writes succeed again/);
        // The audit trail says how each submission ended: the refused one with the store's error and no job.
        const submits = (await cluster.json<AuditEntry[]>(["audit", "--action", "job.submit"]))
          .map((entry) => `${entry.outcome} ${entry.target === null ? "-" : "job"}`);
        assert.deepEqual(submits.sort(), ["ok job", "unavailable -"]);
      } finally {
        await outage.end();
        await cluster.stop();
      }
    }));
}

Deno.test({
  name: "a full disk: 503 with the reason, the tracker stays up, and it recovers when there is room",
  ignore: Deno.uid() !== 0 || lacks("bwrap"), // mounting a small tmpfs needs root, as CI has
  fn: async () => {
    const mount = await Deno.makeTempDir({ prefix: "fabric-full-" });
    const mounted = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mount] })
      .output();
    assert.equal(mounted.code, 0, new TextDecoder().decode(mounted.stderr));
    const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
    try {
      // Move the tracker onto the small disk.
      cluster.tracker.kill("SIGTERM");
      await cluster.tracker.exited;
      await new Deno.Command("cp", { args: ["-a", `${cluster.trackerDir}/.`, mount] }).output();
      await Deno.remove(cluster.trackerDir, { recursive: true });
      await Deno.symlink(mount, cluster.trackerDir);
      await cluster.startTracker();
      await cluster.waitForAgents(["a1"]);
      const file = await cluster.writeFile("small.yaml", JOB);
      assert.equal((await cluster.cli(["submit", file, "--wait"])).code, 0);

      const filler = join(mount, "filler");
      await new Deno.Command("dd", { args: ["if=/dev/zero", `of=${filler}`, "bs=64k"], stderr: "null" }).output();
      const refused = await cluster.cli(["submit", file]);
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, /The store could not write: .*(full|disk)/i);
      assert.equal((await cluster.cli(["agents"])).code, 0, "the tracker is still up");

      await Deno.remove(filler);
      const accepted = await cluster.cli(["submit", file, "--wait"]);
      assert.equal(accepted.code, 0, accepted.stderr);
      const jobs = await cluster.json<JobSummary[]>(["status"]);
      assert.deepEqual(jobs.map((j) => j.state), ["succeeded", "succeeded"]);
      await waitFor("the recovery to be logged", () => cluster.tracker.stderr.includes("store writes succeed again"));
    } finally {
      await cluster.stop();
      await new Deno.Command("umount", { args: ["-l", mount] }).output();
      await Deno.remove(mount, { recursive: true }).catch(() => {});
    }
  },
});
