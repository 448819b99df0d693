/**
 * An agent running as root keeps a process ahead for its next host task, already switched to the task
 * user: another task of that user (every agent of a machine has the same), running beside it, cannot
 * reach it to read or change that next task.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childPids, resolveTaskUser } from "../../src/exec/mod.ts";
import { waitFor } from "../../testing/process.ts";
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
    // Two agents on one machine share the task user: the attacker runs on a2 while a1 idles with its standby.
    const cluster = await Cluster.start({
      agents: [
        { name: "a1", extraArgs: ["--allow-unsandboxed"] },
        { name: "a2", extraArgs: ["--allow-unsandboxed"] },
      ],
    });
    let report = "";
    try {
      const agent = cluster.agents.get("a1")!;
      const host = (name: string, on: string, run: string, more = "") =>
        `name: ${name}\nsandbox: false\ntasks:\n  - name: t\n    agents: [${on}]\n    run: ${
          JSON.stringify(run)
        }\n${more}`;
      // A task of the task user's first: a1's next standby waits as that user.
      const first = await cluster.waitForJob(await cluster.submit(host("first", "a1", "true")));
      assert.equal(first.state, "succeeded");
      const uid = (await resolveTaskUser(undefined))!.uid;
      const standby = await waitFor("a1's standby as the task user", () =>
        childPids(agent.pid).find((pid) => {
          try {
            return new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(Deno.readTextFileSync(`/proc/${pid}/status`));
          } catch {
            return false;
          }
        }));

      const attack = await cluster.waitForJob(await cluster.submit(host("attack", "a2", `python3 ${script}`)));
      report = (await cluster.cli(["logs", attack.tasks[0].id])).stdout;
      assert.equal(attack.state, "succeeded", report);
      const line = report.split("\n").find((l) => l.startsWith(`${standby} `));
      assert.ok(line, `the attacker found a1's standby ${standby}: ${report}`);
      assert.ok(!line.includes(":reached"), `nothing of the waiting standby is in reach: ${line}`);
      // a2 starts its own next process ahead while the attack runs in its other slot: out of reach too.
      for (const each of report.split("\n").filter((l) => /^\d+ /.test(l))) {
        assert.ok(!each.includes(":reached"), `nothing of any process kept ahead is in reach: ${each}`);
      }

      // The next task (through env -i, whose path the attacker went for) runs as it was given, in that standby.
      const victim = await cluster.waitForJob(
        await cluster.submit(host("victim", "a1", 'echo "victim $$"', "    shell: sh\n")),
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
