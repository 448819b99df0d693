/**
 * An agent running as root keeps a process ahead for its next host task, already switched to the task
 * user: another task of that user, running beside it, cannot reach it to read or change that next task.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childPids } from "../../src/exec/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { hasTerminal, standbyAttack } from "../../testing/standby.ts";
import { lacks } from "../../testing/machine.ts";

Deno.test({
  name: "a task of the task user cannot reach the process kept ahead for the next task, nor change what that task runs",
  ignore: hasTerminal() || Deno.uid() !== 0 || lacks("cgroup"),
  fn: async () => {
    // Where the attacker's script is, and where it would put what it stole: open to the task user.
    const dir = await Deno.makeTempDir({ prefix: "fabric-standby-attack-" });
    await Deno.chmod(dir, 0o777);
    const loot = join(dir, "loot");
    const script = join(dir, "attack.py");
    await Deno.writeTextFile(script, standbyAttack(loot, 15), { mode: 0o644 });
    const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 2, extraArgs: ["--allow-unsandboxed"] }] });
    let report = "";
    try {
      const agent = cluster.agents.get("a1")!;
      const host = (name: string, run: string, more = "") =>
        `name: ${name}\nsandbox: false\ntasks:\n  - name: t\n    run: ${JSON.stringify(run)}\n${more}`;
      // A task of the task user's first: the agent's next standby waits as that user.
      const first = await cluster.waitForJob(await cluster.submit(host("first", "true")));
      assert.equal(first.state, "succeeded");

      // The attacker runs in one slot; the agent keeps a standby for the other meanwhile.
      const attack = await cluster.waitForJob(await cluster.submit(host("attack", `python3 ${script}`)));
      report = (await cluster.cli(["logs", attack.tasks[0].id])).stdout;
      assert.equal(attack.state, "succeeded", report);
      const standby = childPids(agent.pid)[0];
      assert.ok(standby, "the agent keeps a standby");
      const line = report.split("\n").find((l) => l.startsWith(`${standby} `));
      assert.ok(line, `the attacker found the agent's standby ${standby}: ${report}`);
      assert.ok(!line.includes(":reached"), `nothing of the waiting standby is in reach: ${line}`);

      // The next task (through env -i, whose path the attacker went for) runs as it was given, in that standby.
      const victim = await cluster.waitForJob(
        await cluster.submit(host("victim", 'echo "victim $$"', "    shell: sh\n")),
      );
      const logs = await cluster.cli(["logs", victim.tasks[0].id]);
      assert.equal(victim.state, "succeeded", logs.stdout);
      assert.equal(logs.stdout, `victim ${standby}\n`);
      assert.ok(!existsSync(loot), "nothing of the task reached the attacker");
    } finally {
      await cluster.stop();
      for (const fake of report.split("\n").filter((l) => l.startsWith("fake:"))) {
        await Deno.remove(fake.slice(5)).catch(() => {});
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
