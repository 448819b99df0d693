/**
 * Periodic jobs with several trackers on one PostgreSQL: only the leader launches, and a leader killed
 * (kill -9) at a scheduled time, mid-launch, neither loses the time nor has it launched twice by its
 * successor. Waits poll real state with a bound.
 */
import assert from "node:assert/strict";
import { type JobSummary, launchLabel } from "../src/protocol/mod.ts";
import { type HotCluster, withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

const LEASE_MS = 3000;

/** Runs queue (no agent): overlap allow, so that every time launches whatever its last run does. */
const TICK = `name: tick
schedule: "*/2 * * * * *"
overlap: allow
tasks:
  - name: t
    run: "true"
`;

async function runs(cluster: HotCluster, via: number): Promise<JobSummary[]> {
  const jobs = await cluster.json<JobSummary[]>(via, ["status", "--limit", "1000"]);
  return jobs.filter((job) => job.periodic?.name === "tick").reverse();
}

function assertEachTimeOnce(all: JobSummary[]): void {
  const times = all.map((run) => run.periodic!.scheduledAt);
  assert.equal(new Set(times).size, times.length, `a scheduled time launched twice: ${times.join(", ")}`);
  for (const run of all) assert.equal(run.name, `tick@${launchLabel(Date.parse(run.periodic!.scheduledAt))}`);
}

Deno.test({
  name:
    "with two trackers, the leader killed at a scheduled time: each time launches once, and the missed one is caught up by the next leader",
  ignore: lacks("postgres"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: `${LEASE_MS}ms` }, async (cluster) => {
      // Registered through the follower: forwarded to the leader, which launches.
      const file = await cluster.writeFile("tick.yaml", TICK);
      const registered = await cluster.cli(1, ["submit", file]);
      assert.equal(registered.code, 0, registered.stderr);
      await waitFor("two runs", async () => (await runs(cluster, 1)).length >= 2, { timeoutMs: 30_000 });
      assert.doesNotMatch(cluster.output(1), /periodic job tick: launched/, "a follower launches nothing");

      // kill -9 a few milliseconds after a scheduled time: the leader is launching it, or about to.
      await waitFor("just after a scheduled time", () => Date.now() % 2000 < 20, { timeoutMs: 5000, intervalMs: 1 });
      const killedAt = Date.now();
      await cluster.stopTracker(0, "SIGKILL");
      await cluster.leads(1, 30_000);
      // When it began launching, by its own log line (a time after that is an ordinary launch).
      const led = await cluster.trackers[1].daemon!.waitForOutput(
        /^(\S+) tracker: periodic jobs: 1 registered, launching from now/m,
      );
      const ledAt = Date.parse(led[1]);

      // The times while no tracker led: the latest of them runs once (within catchUp), launched by tracker 1.
      const caughtUp = await waitFor("the catch-up run", async () => {
        return (await runs(cluster, 1)).find((run) => {
          const at = Date.parse(run.periodic!.scheduledAt);
          return at > killedAt && at <= ledAt;
        });
      }, { timeoutMs: 20_000 });
      assert.match(cluster.output(1), new RegExp(`periodic job tick: launched ${caughtUp.name}`));
      await waitFor("runs after the takeover", async () => {
        return (await runs(cluster, 1)).filter((run) => Date.parse(run.periodic!.scheduledAt) > ledAt).length >= 2;
      }, { timeoutMs: 20_000 });

      // The old leader back, as a follower: it launches nothing, and nothing is launched twice.
      await cluster.startTracker(0);
      const before = (await runs(cluster, 0)).length;
      await waitFor("more runs", async () => (await runs(cluster, 0)).length >= before + 2, { timeoutMs: 20_000 });
      const all = await runs(cluster, 0);
      assertEachTimeOnce(all);
      const between = all.filter((run) => {
        const at = Date.parse(run.periodic!.scheduledAt);
        return at > killedAt && at <= ledAt;
      });
      assert.equal(between.length, 1, "one run for the times missed while no tracker led");
      assert.doesNotMatch(
        cluster.trackers[0].daemon!.stderr,
        /periodic job tick: launched/,
        "the restarted follower launches nothing",
      );
    }),
});
