/** The sandbox, proven through real agents: what a task can reach, and what dies with it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { processesUnder, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "sandboxed tasks reach only what their permissions allow, and nothing outlives them",
  ignore: lacks("bwrap", "deno", "cgroup"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 8 }] });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  const outside = await Deno.makeTempDir({ prefix: "fabric-outside-" });
  // A write path is writable where the task's user may write (an agent running as root runs tasks as another).
  await Deno.chmod(outside, 0o777);
  try {
    const agentDir = cluster.agentDir("a1");
    const file = await cluster.writeFile(
      "proofs.yaml",
      `name: proofs
tasks:
  - name: net-default
    run: exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected
  - name: net-allowed
    permissions: {net: ["127.0.0.1:${port}"]}
    run: exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected
  - name: write-outside
    run: echo x > ${outside}/denied
  - name: write-allowed
    permissions: {write: [${outside}]}
    run: echo x > ${outside}/allowed && echo wrote
  - name: credential
    permissions: {read: [${join(cluster.root, "agents")}]}
    run: |
      ls ${join(cluster.root, "agents")} >&2 || true
      cat ${join(agentDir, "agent.json")}
  - name: forked
    run: |
      sleep 300 &
      setsid sleep 301 &
      echo forked
  - name: script-denied
    code: |
      await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
  - name: script-allowed
    permissions: {net: ["127.0.0.1:${port}"]}
    code: |
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
      conn.close();
      console.log("connected");
  - name: oom
    resources: {memory: 64M}
    shell: python
    run: block = bytearray(256 * 1024 * 1024)
  - name: timeout
    timeout: 500ms
    grace: 500ms
    run: sleep 30
`,
    );
    const result = await cluster.cli(["submit", file, "--wait", "--json"]);
    const job = JSON.parse(result.stdout) as JobDetail;
    const task = (name: string) => job.tasks.find((t) => t.name === name)!;
    const log = async (name: string) => await cluster.cli(["logs", task(name).id]);

    assert.equal(task("net-default").state, "failed");
    assert.equal(task("net-allowed").state, "succeeded");
    assert.equal((await log("net-allowed")).stdout, "connected\n");

    assert.equal(task("write-outside").state, "failed");
    assert.match(
      (await log("write-outside")).stderr,
      /Read-only file system|No such file or directory|Permission denied/,
    );
    await assert.rejects(Deno.stat(join(outside, "denied")));
    assert.equal(task("write-allowed").state, "succeeded");
    assert.equal(await Deno.readTextFile(join(outside, "allowed")), "x\n");

    // A read path holding the agent's data directory is refused before the task runs.
    assert.equal(task("credential").state, "failed");
    assert.match(task("credential").reason ?? "", /exposes the agent's data directory/);
    const credential = await log("credential");
    assert.doesNotMatch(credential.stdout + credential.stderr, /fabric-agent-/);

    assert.equal(task("forked").state, "succeeded");
    assert.deepEqual(await processesUnder(agentDir), [], "the forked sleeps died with their task");

    assert.equal(task("script-denied").state, "failed");
    assert.match(
      (await log("script-denied")).stderr,
      new RegExp(`NotCapable: Requires net access to "127\\.0\\.0\\.1:${port}"`),
    );
    assert.equal(task("script-allowed").state, "succeeded");
    assert.equal((await log("script-allowed")).stdout, "connected\n");

    assert.deepEqual([task("oom").state, task("oom").reason], ["failed", "oom"]);
    assert.deepEqual([task("timeout").state, task("timeout").reason], ["failed", "timed_out"]);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await cluster.stop();
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("running unsandboxed needs both the agent's --allow-unsandboxed and the task's sandbox: false", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "strict" }] });
  try {
    const jobId = await cluster.submit(`name: loose
tasks:
  - name: host
    sandbox: false
    run: test -r /etc/hostname && echo "on the host, unsandboxed"
`);
    await waitFor("the task to say why it waits", async () => {
      const job = await cluster.json<JobDetail>(["status", jobId]);
      return job.tasks[0].reason === "it opts out of the sandbox and no ready agent allows that (--allow-unsandboxed)";
    });
    const loose = cluster.startAgent({ name: "loose", extraArgs: ["--allow-unsandboxed"] });
    await loose.waitForOutput(/unsandboxed allowed/);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.tasks[0].agent, "loose");
    assert.equal(job.tasks[0].sandbox, false);
    const agents = await cluster.json<AgentView[]>(["agents"]);
    assert.deepEqual(agents.map((a) => [a.name, a.capabilities.unsandboxed]), [["loose", true], ["strict", false]]);
    const status = await cluster.cli(["status", jobId]);
    assert.match(status.stdout, /unsandboxed/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an agent that cannot sandbox gets no sandboxed work, and status says why", async () => {
  const cluster = await Cluster.start();
  try {
    // PATH without bwrap: the agent's probe fails and it says so.
    const bin = await Deno.makeTempDir({ dir: cluster.root });
    for (const tool of ["bash", "sh", "git", "python3", "deno"]) {
      const found = ["/usr/bin", "/bin", "/usr/local/bin"].map((d) => join(d, tool)).find((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      });
      if (found) await Deno.symlink(found, join(bin, tool));
    }
    const agent = cluster.startAgent({ name: "nobwrap", env: { PATH: bin } });
    await agent.waitForOutput(
      /bubblewrap is not installed \("bwrap" is not in PATH\): sandboxed tasks \(the default\) will not be placed on this agent; install it: sudo apt-get install bubblewrap/,
    );
    await cluster.waitForAgents(["nobwrap"]);
    const jobId = await cluster.submit("name: boxed\ntasks:\n  - {name: t, run: echo hi}\n");
    await waitFor("the reason", async () => {
      const job = await cluster.json<JobDetail>(["status", jobId]);
      return job.tasks[0].state === "queued" && job.tasks[0].reason === "no ready agent can sandbox tasks (bubblewrap)";
    });
  } finally {
    await cluster.stop();
  }
});
