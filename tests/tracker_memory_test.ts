/**
 * A tracker started in a cgroup smaller than the heap V8 would let it grow to says so once, with the
 * setting that fits (docs/operating.md, "Memory"); started with that setting, it says nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTaskCgroup, detectCgroup, removeTaskCgroup } from "../src/exec/mod.ts";
import { lacks } from "../testing/machine.ts";
import { Daemon } from "../testing/process.ts";

const support = lacks("cgroup") ? null : await detectCgroup();

Deno.test({
  name: "a tracker in a 1 GB cgroup warns that its heap may outgrow it, naming the setting; with it, it does not",
  ignore: support === null,
  fn: async () => {
    const group = createTaskCgroup(support!, {
      name: `fabric-memory-test-${crypto.randomUUID().slice(0, 8)}`,
      memoryBytes: 1 << 30,
    });
    const dir = await Deno.makeTempDir({ prefix: "fabric-memory-" });
    // The tracker joins the group before it execs: what it reads of /proc/self/cgroup is that group.
    const wrap = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', join(group.path, "cgroup.procs")];
    const started: Daemon[] = [];
    const run = async (name: string, env?: Record<string, string>) => {
      const tracker = new Daemon(
        name,
        ["tracker", "--listen", "127.0.0.1:0", "--data-dir", join(dir, name)],
        env,
        wrap,
      );
      started.push(tracker);
      await tracker.waitForOutput(/listening on/);
      // Its log is flushed as it stops: whatever it said at its start is in stderr then.
      assert.equal((await tracker.stop()).code, 0, tracker.describe());
      return tracker.stderr;
    };
    try {
      const plain = await run("plain");
      const warnings = plain.match(/memory: this tracker's cgroup allows it 1024 MB[^\n]*/g) ?? [];
      assert.equal(warnings.length, 1, plain);
      assert.match(warnings[0], /DENO_V8_FLAGS=--max-old-space-size=768 /);
      const capped = await run("capped", { DENO_V8_FLAGS: "--max-old-space-size=512" });
      assert.doesNotMatch(capped, /memory: /, "a heap capped below the limit needs no warning");
    } finally {
      for (const tracker of started) await tracker.stop("SIGKILL", 1000);
      await removeTaskCgroup(group);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
