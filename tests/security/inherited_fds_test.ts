/**
 * What the agent's own parent left open (a shell's, a supervisor's, a CI runner's descriptors) never
 * reaches a task: here a root-only file the parent opened for writing, which a task would otherwise
 * write through as any user, from inside its sandbox too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../../testing/cluster.ts";
import { lacks } from "../../testing/machine.ts";

Deno.test({
  name: "a task gets only its standard descriptors, never one the agent inherited from its parent",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "fabric-inherited-" });
    const file = join(dir, "root-only.log");
    await Deno.writeTextFile(file, "", { mode: 0o600 });
    // The agent's parent: a shell that opens the file on descriptors 7 (append) and 8 (read), then execs the agent.
    const wrap = ["bash", "-c", 'exec 7>>"$0" 8<"$0"; exec "$@"', file];
    const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--allow-unsandboxed"], wrap }] });
    try {
      const agent = cluster.agents.get("a1")!;
      assert.ok(Deno.readLinkSync(`/proc/${agent.pid}/fd/7`) === file, "the agent did inherit the descriptor");
      // Listed by the task's own shell, with no pipe or subshell: an `ls` in `$(...)` lists its parent's descriptors
      // while the parent may still hold the pipe's other end (a descriptor 4, now and then).
      const run = 'printf "fds: "; for f in /proc/$$/fd/*; do printf "%s " "${f##*/}"; done; echo\n' +
        "{ echo pwned >&7; } 2>/dev/null && echo wrote || echo refused\n" +
        "{ read -r line <&8; } 2>/dev/null && echo read || echo unread\n";
      // Twice each: the first in the process the idle agent started ahead, the next perhaps directly.
      const boxes = lacks("bwrap") ? [false] : [false, true];
      for (const sandbox of boxes) {
        for (let i = 0; i < 2; i++) {
          const jobId = await cluster.submit(
            `name: fds\nsandbox: ${sandbox}\ntasks:\n  - name: t\n    run: ${JSON.stringify(run)}\n`,
          );
          const job = await cluster.waitForJob(jobId);
          const logs = (await cluster.cli(["logs", job.tasks[0].id])).stdout;
          assert.equal(job.state, "succeeded", logs);
          // 3: the listing's own, the directory the shell reads it from.
          assert.equal(logs, "fds: 0 1 2 3 \nrefused\nunread\n", `sandbox: ${sandbox}`);
        }
      }
      assert.equal(await Deno.readTextFile(file), "", "nothing reached the file");
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
