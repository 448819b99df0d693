/**
 * An agent started again as the README says, with no flags: the same agent as before. Its kept
 * settings, and a drain of its own that a kill cut short.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, fabric, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const agentView = async (cluster: Cluster, name: string) =>
  (await cluster.json<AgentView[]>(["agents"])).find((a) => a.name === name)!;

/** Stop the agent's process (SIGTERM, or SIGKILL) and start it again with only `args`. */
async function restart(cluster: Cluster, name: string, args: string[], signal: Deno.Signal = "SIGTERM") {
  const old = cluster.agents.get(name)!;
  old.kill(signal);
  await old.exited;
  const again = new Daemon(`agent ${name} again`, ["agent", "--data-dir", cluster.agentDir(name), ...args]);
  cluster.agents.set(name, again);
  await again.waitForOutput(/joined/);
  return again;
}

Deno.test({
  name: "an agent started again with no flags keeps its labels, slots and permissions; a flag given again wins",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({
    agents: [{ name: "a1", slots: 3, labels: "zone=blue,disk=ssd", extraArgs: ["--allow-unsandboxed"] }],
  });
  try {
    await cluster.waitForAgents(["a1"]);
    const again = await restart(cluster, "a1", []);
    assert.match(again.stderr, /kept from the last start: .*--labels zone=blue,disk=ssd/);
    await cluster.waitForAgents(["a1"]);
    let view = await agentView(cluster, "a1");
    assert.deepEqual(view.labels, { zone: "blue", disk: "ssd" });
    assert.equal(view.slots, 3);
    assert.equal(view.capabilities.unsandboxed, true);
    // Before: the labels were gone and this job waited for ever.
    const jobId = await cluster.submit(`name: kept
tasks:
  - name: t
    sandbox: false
    constraints: [{label: zone, equals: blue}]
    run: echo ran on $FABRIC_AGENT
`);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded");

    await restart(cluster, "a1", ["--labels", "zone=red"]);
    await cluster.waitForAgents(["a1"]);
    view = await agentView(cluster, "a1");
    assert.deepEqual(view.labels, { zone: "red" });
    assert.equal(view.slots, 3, "what was not given again is still kept");

    await restart(cluster, "a1", ["--reset-settings"]);
    await cluster.waitForAgents(["a1"]);
    view = await agentView(cluster, "a1");
    assert.deepEqual(view.labels, {});
    assert.equal(view.capabilities.unsandboxed, false);
    assert.equal(view.slots, navigator.hardwareConcurrency);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "an agent killed while draining itself to stop comes back taking work; an admin's drain stays",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--stop-grace", "60s"] }] });
  try {
    const jobId = await cluster.submit("name: long\ntasks:\n  - {name: t, run: sleep 60}\n");
    await waitFor(
      "the task to run",
      async () => (await cluster.json<JobDetail>(["status", jobId])).tasks[0].state === "running",
    );
    const a1 = cluster.agents.get("a1")!;
    a1.kill("SIGTERM");
    await a1.waitForOutput(/stopping: 1 running task\(s\) may finish until/);
    await restart(cluster, "a1", [], "SIGKILL");
    await cluster.waitForAgents(["a1"]);
    // Before: it came back draining, and took no work until someone resumed it.
    assert.notEqual((await agentView(cluster, "a1")).state, "draining");
    await cluster.cli(["cancel", jobId]);
    const next = await cluster.submit("name: next\ntasks:\n  - {name: t, run: echo taken}\n", "next.yaml");
    assert.equal((await cluster.waitForJob(next)).state, "succeeded");

    const drained = await cluster.cli(["agents", "drain", "a1"]);
    assert.equal(drained.code, 0, drained.stderr);
    await restart(cluster, "a1", [], "SIGKILL");
    assert.equal((await agentView(cluster, "a1")).state, "draining");
  } finally {
    await cluster.stop();
  }
});

Deno.test("kept settings that are not what fabric wrote stop the agent with the file named, and how to go on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-agent-settings-" });
  try {
    await Deno.writeTextFile(join(dir, "settings.json"), '{"slots": 4}');
    const wrong = await fabric(["agent", "--data-dir", dir]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /kept settings ".*settings\.json": "slots" .*expected string.*--reset-settings/);
    await Deno.writeTextFile(join(dir, "settings.json"), "nope");
    const junk = await fabric(["agent", "--data-dir", dir]);
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /kept settings ".*settings\.json" are not JSON/);
    assert.doesNotMatch(wrong.stderr + junk.stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
