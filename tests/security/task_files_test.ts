/**
 * The agent never trusts a file a task made: what it reads of a task's directory ($FABRIC_OUTPUT) is
 * taken only as a regular file of the task's own, read only up to its limit and never shown in an
 * error; what a task leaves in its directory cannot bring the agent down when it is cleaned up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, TaskDetail } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { waitFor } from "../../testing/process.ts";
import { lacks } from "../../testing/machine.ts";

Deno.test({
  name:
    "$FABRIC_OUTPUT is taken only as the task's own regular file: links, devices and FIFOs are refused, content is never shown",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 8 }] });
  try {
    const agentDir = cluster.agentDir("a1");
    const credential = JSON.parse(await Deno.readTextFile(join(agentDir, "agent.json"))).credential as string;
    // Files the tasks cannot see (the sandbox has its own /tmp), for the agent to be tricked into reading.
    const outside = join(cluster.root, "outside");
    await Deno.mkdir(outside);
    const outsideSecret = secret();
    await Deno.writeTextFile(join(outside, "output.json"), JSON.stringify({ stolen: outsideSecret }));
    // The start of each is what an error would quote: each is told apart by its first characters.
    const textSecret = secret();
    await Deno.writeTextFile(join(outside, "notes.txt"), `${textSecret} is not JSON`);
    const ownSecret = secret();

    const started = Date.now();
    const jobId = await cluster.submit(`name: outputs
tasks:
  - name: credential
    run: ln -s ${join(agentDir, "agent.json")} "$FABRIC_OUTPUT"
  - name: zero
    run: ln -s /dev/zero "$FABRIC_OUTPUT"
  - name: fifo
    run: mkfifo "$FABRIC_OUTPUT"
  - name: text-link
    run: ln -s ${join(outside, "notes.txt")} "$FABRIC_OUTPUT"
  - name: parent-link
    run: cd "$HOME" && rmdir .fabric && ln -s ${outside} .fabric
  - name: own-text
    run: |
      printf '%s, and no JSON' ${ownSecret} > "$FABRIC_OUTPUT"
  - name: deep
    run: |
      { printf '%.0s[' $(seq 20000); printf '%.0s]' $(seq 20000); } > "$FABRIC_OUTPUT"
  - name: good
    run: |
      echo '{"ok": true}' > "$FABRIC_OUTPUT"
`);
    const job = await cluster.waitForJob(jobId, { timeoutMs: 20_000 });
    assert.ok(Date.now() - started < 20_000);
    const task = (name: string) => job.tasks.find((t) => t.name === name)!;
    const detail = async (name: string) => await cluster.json<TaskDetail>(["status", task(name).id]);

    assert.equal(task("good").state, "succeeded");
    assert.deepEqual((await detail("good")).output, { ok: true });

    for (const name of ["credential", "zero", "fifo", "text-link", "parent-link"]) {
      assert.equal(task(name).state, "failed", name);
      assert.match(task(name).reason ?? "", /^\$FABRIC_OUTPUT .*not a regular file/, name);
      assert.equal((await detail(name)).output, null, name);
    }
    // Valid JSON, but deeper than what reads it after can take (the CLI's own printer was one).
    assert.equal(task("deep").state, "failed");
    assert.match(task("deep").reason ?? "", /^\$FABRIC_OUTPUT nests arrays and objects more than 256 deep$/);
    const deep = await cluster.cli(["status", task("deep").id, "--json"]);
    assert.equal(deep.code, 0, deep.stderr);
    assert.equal(task("own-text").state, "failed");
    assert.match(task("own-text").reason ?? "", /^\$FABRIC_OUTPUT does not hold valid JSON/);

    // Nowhere: not in any status, detail, or log.
    const seen = [JSON.stringify(job)];
    for (const t of job.tasks) {
      seen.push(JSON.stringify(await detail(t.name)));
      const log = await cluster.cli(["logs", t.id]);
      seen.push(log.stdout, log.stderr);
    }
    seen.push((await cluster.cli(["status", jobId])).stdout);
    const everything = seen.join("\n");
    const secrets = [credential.slice(-16), ...[outsideSecret, textSecret, ownSecret].map((s) => s.slice(0, 8))];
    for (const shown of secrets) assert.ok(!everything.includes(shown), `"${shown}" was shown`);

    const agents = await cluster.json<AgentView[]>(["agents"]);
    assert.deepEqual(agents.map((a) => [a.name, a.state]), [["a1", "ready"]]);
  } finally {
    await cluster.stop();
  }
});

function secret(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** How deep a task's directory tree goes: a recursive walk of it overflowed the agent's stack at ~10,000. */
const DEPTH = 16_000;

Deno.test({
  name: "a directory tree too deep to walk recursively, left by a task, does not bring down its agent",
  // The agent's data directory on a tmpfs: tens of thousands of directories come and go in a second
  // there, where this machine's disk (mounted with discard) takes a minute.
  ignore: Deno.uid() !== 0 || lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start();
    const agentDir = cluster.agentDir("deep");
    await Deno.mkdir(agentDir, { recursive: true });
    await mount(["-t", "tmpfs", "-o", "size=512m", "tmpfs", agentDir]);
    try {
      const agent = cluster.startAgent({ name: "deep", slots: 2 });
      let exited: Deno.CommandStatus | null = null;
      agent.exited.then((status) => exited = status);
      await cluster.waitForAgents(["deep"]);
      const jobId = await cluster.submit(`name: deep
tasks:
  - name: tree
    shell: python
    run: |
      import os
      fd = os.open(".", os.O_RDONLY)
      for i in range(${DEPTH}):
          os.mkdir("d", dir_fd=fd)
          inner = os.open("d", os.O_RDONLY, dir_fd=fd)
          os.close(fd)
          fd = inner
      print("made")
  - name: after
    needs: [tree]
    run: echo still here
`);
      const job = await cluster.waitForJob(jobId, { timeoutMs: 60_000 });
      assert.deepEqual(job.tasks.map((t) => [t.name, t.state]), [["tree", "succeeded"], ["after", "succeeded"]]);
      // The tree is gone (not left for the next start), and the agent is still at work.
      const ended = await waitFor("the task's directory to be removed", async () => {
        if (exited) return "the agent exited";
        const names = [];
        for await (const entry of Deno.readDir(join(agentDir, "work"))) names.push(entry.name);
        return names.every((name) => name.startsWith(".kept-")) && "removed";
      }, { timeoutMs: 30_000 });
      assert.equal(ended, "removed", agent.describe());
      const agents = await cluster.json<AgentView[]>(["agents"]);
      assert.deepEqual(agents.map((a) => [a.name, a.state]), [["deep", "ready"]]);
      const again = await cluster.cli(["submit", "--wait", await cluster.writeFile("j2.yaml", JOB_AFTER)]);
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await cluster.agents.get("deep")?.stop("SIGTERM", 5000);
      // Whatever is left there goes with the tmpfs, not through a recursive removal.
      await mount(["-l", agentDir], "umount");
      await cluster.stop();
    }
  },
});

const JOB_AFTER = "name: after\ntasks:\n  - {name: t, run: 'true'}\n";

async function mount(args: string[], program = "mount"): Promise<void> {
  const output = await new Deno.Command(program, { args, stdout: "null", stderr: "piped" }).output();
  if (!output.success) throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
}
