/** An idle agent has its next task on the host started ahead, already in its cgroup, and cleans it up when it leaves. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { childPids, isAlive } from "../src/exec/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { type Daemon, waitFor } from "../testing/process.ts";
import { hasTerminal, standbyInbox } from "../testing/standby.ts";
import { lacks } from "../testing/machine.ts";

/** A test with one agent that may run tasks on the host, once it has started its standby (its only child when idle). */
function standbyTest(
  name: string,
  body: (cluster: Cluster, agent: Daemon, standby: number) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: hasTerminal() || lacks("cgroup"),
    fn: async () => {
      const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--allow-unsandboxed"] }] });
      try {
        const agent = cluster.agents.get("a1")!;
        const standby = await waitFor("the agent's standby", () => childPids(agent.pid)[0]);
        await body(cluster, agent, standby);
      } finally {
        await cluster.stop();
      }
    },
  });
}

standbyTest(
  "an idle agent runs its next unsandboxed task in the process it started ahead, and ends that process when it leaves",
  async (cluster, agent, standby) => {
    const jobId = await cluster.submit("name: ahead\nsandbox: false\ntasks:\n  - name: t\n    run: echo $$\n");
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded");
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    assert.equal(logs.stdout, `${standby}\n`, "the task is the process started ahead");

    const next = await waitFor("the next standby", () => childPids(agent.pid).find((pid) => pid !== standby));
    const inbox = standbyInbox(next);
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, agent.describe());
    assert.ok(!isAlive(next), "the standby left with the agent");
    assert.ok(inbox && !existsSync(inbox), "and its file with it");
  },
);

standbyTest("the process an agent started ahead ends by itself when the agent is killed", async (_, agent, standby) => {
  const inbox = standbyInbox(standby);
  assert.ok(existsSync(inbox), `the standby's file ${inbox}`);
  agent.kill("SIGKILL");
  await agent.exited;
  // Its stdin was the agent's: without a task to read, it exits, and removes the file it waited on.
  await waitFor("the standby to end", () => !isAlive(standby), { timeoutMs: 5000 });
  assert.ok(!existsSync(inbox), "the standby's file is removed");
});
