/** Crashes: a killed agent's task runs again elsewhere; a restarted tracker loses no finished result. */
import assert from "node:assert/strict";
import type { JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";
import { STORES, withStore } from "../testing/stores.ts";

Deno.test({
  name: "kill -9 of an agent mid-task: the task runs again on the other agent and the job succeeds",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 1 }, { name: "a2", slots: 1 }] });
  try {
    const jobId = await cluster.submit(`name: survivor
tasks:
  - name: long
    run: |
      echo "attempt $FABRIC_ATTEMPT on $FABRIC_AGENT"
      sleep 2
      echo finished
`);
    const first = await waitFor("the task to run", async () => {
      const job = await cluster.json<JobDetail>(["status", jobId]);
      return job.tasks[0].state === "running" ? job.tasks[0] : undefined;
    });
    const victim = first.agent!;
    const survivor = victim === "a1" ? "a2" : "a1";
    cluster.agents.get(victim)!.kill("SIGKILL");
    const done = await cluster.waitForJob(jobId, { timeoutMs: 30_000 });
    assert.equal(done.state, "succeeded", cluster.describe());
    const task = await cluster.json<TaskDetail>(["status", first.id]);
    assert.equal(task.agent, survivor);
    assert.equal(task.attempt, 2, JSON.stringify(task.attempts, null, 1));
    assert.deepEqual(task.attempts.map((a) => [a.attempt, a.agent, a.state]), [[1, victim, "lost"], [
      2,
      survivor,
      "succeeded",
    ]]);
    const agents = await cluster.json<Array<{ name: string; state: string }>>(["agents"]);
    assert.equal(agents.find((a) => a.name === victim)?.state, "down");
    const logs = await cluster.cli(["logs", first.id]);
    assert.equal(logs.stdout, `attempt 2 on ${survivor}\nfinished\n`);
    const old = await cluster.cli(["logs", first.id, "--attempt", "1"]);
    assert.equal(old.stdout, `attempt 1 on ${victim}\n`);
  } finally {
    await cluster.stop();
  }
});

for (const kind of STORES) {
  Deno.test({
    name: `the tracker restarted mid-job: the job completes and no finished result is lost (${kind.kind})`,
    ignore: lacks("bwrap", ...kind.needs),
  }, () =>
    withStore(kind, async (store) => {
      const cluster = await Cluster.start({
        agents: [{ name: "a1", slots: 2 }, { name: "a2", slots: 2 }],
        store: store.url,
      });
      try {
        const file = await cluster.writeFile(
          "steady.yaml",
          `name: steady
tasks:
  - name: step
    count: 12
    run: |
      echo "step $FABRIC_TASK_INDEX"
      sleep 0.7
`,
        );
        // The client follows the job across the restart: it must see the end and exit 0.
        const waiting = cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 60_000 });
        const jobId = await waitFor("the job to be submitted", async () => {
          const jobs = await cluster.json<Array<{ id: string }>>(["status"]);
          return jobs[0]?.id;
        });
        const before = await waitFor("some tasks to finish", async () => {
          const job = await cluster.json<JobDetail>(["status", jobId]);
          return job.counts.succeeded >= 2 && job.counts.running > 0 ? job : undefined;
        });
        cluster.tracker.kill("SIGKILL");
        await cluster.tracker.exited;
        // Tasks keep running and finishing on the agents while the tracker is away.
        await new Promise((resolve) => setTimeout(resolve, 1200));
        await cluster.startTracker();

        const done = await cluster.waitForJob(jobId, { timeoutMs: 40_000 });
        assert.equal(done.state, "succeeded", cluster.describe());
        assert.equal(done.counts.succeeded, 12);
        // The agents stayed up: every task ran exactly once, including those that finished while the tracker was away.
        assert.deepEqual(done.tasks.map((t) => t.attempt), Array(12).fill(1));
        assert.ok(before.tasks.some((t) => t.state === "succeeded"));
        const waited = await waiting;
        assert.equal(waited.code, 0, waited.stderr);
        assert.equal((JSON.parse(waited.stdout) as JobDetail).state, "succeeded");
        for (const task of done.tasks) {
          const logs = await cluster.cli(["logs", task.id]);
          assert.equal(logs.stdout, `step ${task.index}\n`, `log of ${task.id}`);
        }
      } finally {
        await cluster.stop();
      }
    }));
}
