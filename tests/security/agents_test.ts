/**
 * Agents' credentials and the join token, attacked as the issue found them (on dd1371b a stranger with
 * the join token took over the name of an agent that was down, and with it the work pinned to it; the
 * join token sat in every agent's argv), and the admin's means: removing an agent, approving new ones.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { waitFor } from "../../testing/process.ts";
import { RawApi, registration } from "../../testing/raw_api.ts";

async function withCluster(
  options: Parameters<typeof Cluster.start>[0],
  test: (cluster: Cluster, api: RawApi) => Promise<void>,
): Promise<void> {
  const cluster = await Cluster.start(options);
  const api = await RawApi.of(cluster);
  try {
    await test(cluster, api);
  } catch (error) {
    console.error(cluster.describe());
    throw error;
  } finally {
    api.close();
    await cluster.stop();
  }
}

async function agentState(cluster: Cluster, name: string): Promise<string | undefined> {
  return (await cluster.json<Array<{ name: string; state: string }>>(["agents"])).find((a) => a.name === name)?.state;
}

Deno.test("the join token alone cannot take the name of an agent that is down, nor the work pinned to it", async () => {
  const victimSpec = { name: "victim", slots: 1, extraArgs: ["--allow-unsandboxed"] };
  await withCluster({ agents: [victimSpec] }, async (cluster, api) => {
    const victim = cluster.agents.get("victim")!;
    await victim.stop("SIGKILL");
    await waitFor("victim to be down", async () => (await agentState(cluster, "victim")) === "down");
    const jobId = await cluster.submit(`name: pinned
env: { SECRET: only-for-victim }
tasks:
  - name: t
    run: echo "$SECRET"
    agents: [victim]
    sandbox: false
`);
    const rogue = await api.request("POST", "/v1/agents/register", cluster.joinToken, registration("victim"));
    assert.equal(rogue.status, 409, rogue.text);
    assert.match(
      rogue.text,
      /An agent named \\"victim\\" is registered already: it comes back with its own credential .*fabric agents remove victim/,
    );
    // The victim comes back with its own credential (no token), and runs what waited for it.
    cluster.startAgent(victimSpec);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded");
    assert.equal(job.tasks[0].agent, "victim");

    // An admin may give the name to a new agent (one that lost its data directory, say).
    await cluster.agents.get("victim")!.stop("SIGKILL");
    await waitFor("victim to be down", async () => (await agentState(cluster, "victim")) === "down");
    const byAdmin = await api.request("POST", "/v1/agents/register", cluster.adminToken, registration("victim"));
    assert.equal(byAdmin.status, 200, byAdmin.text);
    const old = JSON.parse(await Deno.readTextFile(join(cluster.agentDir("victim"), "agent.json"))).credential;
    const refused = await api.request("POST", "/v1/agent/heartbeat", old, {});
    assert.equal(refused.status, 401, "the old credential no longer works");
  });
});

Deno.test("an agent given the join token by file or environment does not show it in ps; --token does, and warns", async () => {
  const agents = [
    { name: "by-file", joinTokenBy: "file" as const },
    { name: "by-env", joinTokenBy: "env" as const, extraArgs: ["--allow-unsandboxed"] },
    { name: "by-flag", joinTokenBy: "flag" as const },
  ];
  await withCluster({ agents }, async (cluster) => {
    const cmdline = async (name: string) =>
      (await Deno.readTextFile(`/proc/${cluster.agents.get(name)!.child.pid}/cmdline`)).split("\0").join(" ");
    for (const name of ["by-file", "by-env"]) {
      const line = await cmdline(name);
      assert.match(line, /main\.ts agent --join/, line);
      assert.ok(!line.includes(cluster.joinToken), `${name}: ${line}`);
      assert.doesNotMatch(cluster.agents.get(name)!.stderr, /--token shows the join token/);
    }
    assert.ok((await cmdline("by-flag")).includes(cluster.joinToken), "the control: --token is on the command line");
    assert.match(
      cluster.agents.get("by-flag")!.stderr,
      /warning: --token shows the join token to every user of this machine \(ps\); use --token-file FILE or FABRIC_JOIN_TOKEN/,
    );

    // A job that asks for the agent's variables does not get the join token from FABRIC_JOIN_TOKEN.
    const jobId = await cluster.submit(`name: peek
tasks:
  - name: t
    agents: [by-env]
    sandbox: false
    permissions: { env: ["FABRIC_*"] }
    run: env
`);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded");
    const logs = await cluster.cli(["logs", `${jobId}.0`]);
    assert.match(logs.stdout, /FABRIC_AGENT=by-env/, "the task printed its environment");
    assert.ok(!logs.stdout.includes(cluster.joinToken), logs.stdout);
  });
});

Deno.test("a removed agent is refused at its next request and stops saying so; its task runs elsewhere and its name is free", async () => {
  const unsandboxed = ["--allow-unsandboxed"];
  await withCluster({ agents: [{ name: "a1", slots: 1, extraArgs: unsandboxed }] }, async (cluster, api) => {
    const jobId = await cluster.submit(`name: long
tasks:
  - name: t
    sandbox: false
    run: sleep 60
`);
    await cluster.waitForJob(jobId, { until: (job) => job.tasks[0].state === "running" });
    cluster.startAgent({ name: "a2", slots: 1, extraArgs: unsandboxed });
    await cluster.waitForAgents(["a2"]);

    const removed = await cluster.cli(["agents", "remove", "a1"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /agent a1 removed: its credential is revoked; 1 task\(s\) it had run elsewhere/);
    const a1 = cluster.agents.get("a1")!;
    const status = await a1.exited;
    assert.equal(status.code, 3, a1.describe());
    assert.match(
      a1.stderr,
      /Agent "a1" was removed from this tracker \(fabric agents remove\): its credential is revoked/,
    );
    assert.match(a1.stderr, /To join again as a new agent, remove .*agent\.json/);
    const moved = await cluster.waitForJob(jobId, {
      until: (job: JobDetail) => job.tasks[0].state === "running" && job.tasks[0].agent === "a2",
    });
    assert.equal(moved.tasks[0].attempt, 2);
    assert.deepEqual((await cluster.json<Array<{ name: string }>>(["agents"])).map((a) => a.name), ["a2"]);

    // Its saved credential is refused with the reason; the name is free for a new agent.
    const credential = JSON.parse(await Deno.readTextFile(join(cluster.agentDir("a1"), "agent.json"))).credential;
    const heartbeat = await api.request("POST", "/v1/agent/heartbeat", credential, {});
    assert.equal(heartbeat.status, 401);
    assert.match(heartbeat.text, /was removed from this tracker/);
    const again = await api.request("POST", "/v1/agents/register", cluster.joinToken, registration("a1"));
    assert.equal(again.status, 200, again.text);
    assert.equal((await cluster.cli(["cancel", jobId, "--no-wait"])).code, 0);
  });
});

Deno.test("with --approve-agents a new agent is pending and gets no work until an admin approves it", async () => {
  await withCluster({ trackerArgs: ["--approve-agents"] }, async (cluster) => {
    cluster.startAgent({ name: "new", slots: 1 });
    await cluster.waitForAgents(["new"], "pending");
    await cluster.agents.get("new")!.waitForOutput(/waiting for approval: .*fabric agents approve new/);
    const jobId = await cluster.submit("name: j\ntasks:\n  - name: t\n    run: 'true'\n");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const waiting = await cluster.json<JobDetail>(["status", jobId]);
    assert.equal(waiting.tasks[0].state, "queued", "a pending agent takes no work");
    const operator = (await cluster.cli(["token", "create", "--role", "operator", "--name", "ops"])).stdout.trim();
    const notAdmin = await cluster.cli(["agents", "approve", "new"], { env: { FABRIC_TOKEN: operator } });
    assert.equal(notAdmin.code, 6);
    assert.match(
      notAdmin.stderr,
      /Approving an agent needs the admin role; this token \("ops"\) has the operator role/,
    );
    const approved = await cluster.cli(["agents", "approve", "new"]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /agent new approved: it takes work/);
    assert.equal((await cluster.waitForJob(jobId)).state, "succeeded");
    assert.equal(await agentState(cluster, "new"), "ready");
  });
});
