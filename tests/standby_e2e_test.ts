/** An idle agent has its next task on the host started ahead, already in its cgroup, and cleans it up when it leaves. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childPids, isAlive } from "../src/exec/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { type Daemon, waitFor } from "../testing/process.ts";
import { hasTerminal, standbyInbox } from "../testing/standby.ts";
import { lacks } from "../testing/machine.ts";

/** A test with one agent that may run tasks on the host, once it has started its standby (its only child when idle). */
function standbyTest(
  name: string,
  body: (cluster: Cluster, agent: Daemon, standby: number) => Promise<void>,
  slots = 2,
): void {
  Deno.test({
    name,
    ignore: hasTerminal() || lacks("cgroup"),
    fn: async () => {
      const cluster = await Cluster.start({ agents: [{ name: "a1", slots, extraArgs: ["--allow-unsandboxed"] }] });
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

/**
 * Submits a host task that says which process it is, then waits for a file to exist (at most 20 s), and
 * runs `body` once it has started, with its job and a way to let it end; its file's directory goes after.
 */
async function withWaitingTask(
  cluster: Cluster,
  name: string,
  body: (jobId: string, output: string, release: () => Promise<void>) => Promise<void>,
): Promise<void> {
  // A new directory the task user may pass through.
  const dir = await Deno.makeTempDir({ prefix: "fabric-ahead-" });
  await Deno.chmod(dir, 0o711);
  const file = join(dir, "go");
  try {
    const jobId = await cluster.submit(
      `name: ${name}\nsandbox: false\ntasks:\n  - name: t\n    run: |\n      echo started $$\n` +
        `      for i in $(seq 400); do [ -e ${file} ] && exit 0; sleep 0.05; done; exit 1\n`,
    );
    const output = await waitFor("the waiting task to start", async () => {
      const logs = (await cluster.cli(["logs", `${jobId}.0`])).stdout;
      return logs.trim() ? logs : undefined;
    });
    await body(jobId, output, () => Deno.writeTextFile(file, ""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

standbyTest(
  "an agent with a slot free starts the next task's process ahead while a task runs, and the next task runs in it",
  async (cluster, agent, standby) => {
    await withWaitingTask(cluster, "first", async (first, output, release) => {
      assert.equal(output, `started ${standby}\n`);
      // The first task runs in the standby; the agent, one slot still free, has already started the next.
      const next = await waitFor(
        "the next standby, while the first task runs",
        () => childPids(agent.pid).find((pid) => pid !== standby),
      );
      const second = await cluster.waitForJob(
        await cluster.submit("name: second\nsandbox: false\ntasks:\n  - name: t\n    run: echo $$\n"),
      );
      assert.equal(second.state, "succeeded");
      assert.equal((await cluster.cli(["logs", second.tasks[0].id])).stdout, `${next}\n`, "it ran in that process");
      assert.ok(isAlive(standby), "while the first task still ran");
      await release();
      assert.equal((await cluster.waitForJob(first)).state, "succeeded");
    });
  },
);

standbyTest(
  "an agent whose every slot is taken starts no process ahead",
  async (cluster, agent, standby) => {
    await withWaitingTask(cluster, "busy", async (first, _output, release) => {
      // A standby starts within milliseconds of the task (as the test above shows): none in half a second.
      for (let look = 0; look < 10; look++) {
        assert.deepEqual(childPids(agent.pid), [standby], "the agent's only child is its task");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await release();
      assert.equal((await cluster.waitForJob(first)).state, "succeeded");
      // Free again: the next task's process is started ahead.
      await waitFor("a standby once the slot is free", () => childPids(agent.pid).find((pid) => pid !== standby));
    });
  },
  1,
);
