/** A tracker and two agents as separate processes over TLS: jobs run, logs belong to their tasks, status agrees. */
import assert from "node:assert/strict";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { processesUnder, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";
import { STORES, withStore } from "../testing/stores.ts";

for (const kind of STORES) {
  Deno.test({
    name: `a 20-task job runs on both agents, each task's log is its own output, and status agrees (${kind.kind})`,
    ignore: lacks("bwrap", ...kind.needs),
  }, () =>
    withStore(kind, async (store) => {
      const cluster = await Cluster.start({
        agents: [{ name: "a1", slots: 3 }, { name: "a2", slots: 3 }],
        store: store.url,
      });
      try {
        const file = await cluster.writeFile(
          "twenty.yaml",
          `name: twenty
tasks:
  - name: work
    count: 20
    run: |
      echo "out $FABRIC_TASK_INDEX $FABRIC_TASK_ID"
      echo "err $FABRIC_TASK_INDEX" >&2
      sleep 0.3
`,
        );
        const submitted = await cluster.cli(["submit", file, "--wait", "--json"]);
        assert.equal(submitted.code, 0, submitted.stderr);
        const job = JSON.parse(submitted.stdout) as JobDetail;
        assert.equal(job.state, "succeeded");
        assert.equal(job.tasks.length, 20);
        assert.deepEqual(new Set(job.tasks.map((t) => t.agent)), new Set(["a1", "a2"]));
        assert.deepEqual(job.tasks.map((t) => t.index), [...Array(20).keys()]);

        for (const task of job.tasks) {
          assert.equal(task.state, "succeeded");
          assert.equal(task.exitCode, 0);
          const logs = await cluster.cli(["logs", task.id]);
          assert.equal(logs.code, 0, logs.stderr);
          assert.equal(logs.stdout, `out ${task.index} ${task.id}\n`);
          assert.equal(logs.stderr, `err ${task.index}\n`);
        }

        const status = await cluster.json<JobDetail>(["status", job.id]);
        assert.deepEqual(
          status.tasks.map((t) => [t.id, t.state, t.agent, t.attempt, t.exitCode]),
          job.tasks.map((t) => [t.id, t.state, t.agent, t.attempt, t.exitCode]),
        );
        const list = await cluster.json<Array<{ id: string; state: string; counts: { succeeded: number } }>>([
          "status",
        ]);
        assert.equal(list.find((j) => j.id === job.id)?.counts.succeeded, 20);
      } finally {
        await cluster.stop();
      }
    }));
}

Deno.test({
  name: "a failing task makes submit --wait exit 1 and names the task",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const file = await cluster.writeFile(
      "fail.yaml",
      `name: mixed
tasks:
  - name: good
    run: echo fine
  - name: bad
    run: |
      echo "about to fail" >&2
      exit 7
`,
    );
    const result = await cluster.cli(["submit", file, "--wait"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /job \S+ failed/);
    assert.match(result.stdout, /bad: exit code 7/);
    const jobId = result.stdout.match(/job (\S+) failed/)![1];
    const job = await cluster.json<JobDetail>(["status", jobId]);
    assert.deepEqual(job.tasks.map((t) => [t.name, t.state, t.exitCode]), [["good", "succeeded", 0], [
      "bad",
      "failed",
      7,
    ]]);
    const logs = await cluster.cli(["logs", job.tasks[1].id]);
    assert.equal(logs.stderr, "about to fail\n");
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "cancel stops a running sleep and the children it started, and cancels what is queued",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 1 }] });
  try {
    const jobId = await cluster.submit(`name: sleepy
tasks:
  - name: sleeper
    run: |
      sleep 300 &
      sleep 301 &
      echo started
      wait
  - name: never
    run: echo should not run
`);
    const agentDir = cluster.agentDir("a1");
    await waitFor("the sleeper and its children to run", async () => {
      const job = await cluster.json<JobDetail>(["status", jobId]);
      return job.tasks[0].state === "running" && (await processesUnder(agentDir)).length >= 3;
    });
    const cancelled = await cluster.cli(["cancel", jobId]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /cancelled/);
    const job = await cluster.json<JobDetail>(["status", jobId]);
    assert.equal(job.state, "cancelled");
    assert.deepEqual(job.tasks.map((t) => t.state), ["cancelled", "cancelled"]);
    assert.equal(job.tasks[1].startedAt, null);
    assert.deepEqual(await processesUnder(agentDir), []);
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    assert.equal(logs.stdout, "started\n");
  } finally {
    await cluster.stop();
  }
});
