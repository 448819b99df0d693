import assert from "node:assert/strict";
import { isAlive } from "../exec/mod.ts";
import { processStartTicksLater } from "../exec/mod.ts";
import { RunRegistry } from "./run_registry.ts";

/** A process in its own session and group, as a task without a cgroup or a sandbox runs. */
function leader(): Deno.ChildProcess {
  return new Deno.Command("setsid", { args: ["sleep", "30"], stdout: "null", stderr: "null" }).spawn();
}

Deno.test("a process recorded, then given its start time, is ended after a crash; one removed in between is not recorded again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-registry-test-" });
  const kept = leader();
  const ended = leader();
  try {
    const crashed = new RunRegistry(dir);
    for (const [attempt, child] of [[1, kept], [2, ended]] as const) {
      const ref = { taskId: "j.0", attempt };
      crashed.record(ref, { pid: child.pid, startTicks: null, cgroupName: null });
      const startTicks = await processStartTicksLater(child.pid);
      assert.ok(startTicks !== null && startTicks > 0);
      if (attempt === 2) crashed.remove(ref); // its result was in before the start time was
      crashed.update(ref, { pid: child.pid, startTicks, cgroupName: null });
    }
    // The next start of the agent finds only the first: it is ended, the second is left alone.
    const logged: string[] = [];
    const lost = await new RunRegistry(dir).recover(null, (line) => logged.push(line));
    assert.deepEqual(lost, [{ taskId: "j.0", attempt: 1 }]);
    assert.equal((await kept.status).signal, "SIGKILL");
    assert.ok(isAlive(ended.pid), "a removed record is not brought back by a late update");
    assert.deepEqual(logged, ["ended task j.0 attempt 1, left running by the last run"]);
  } finally {
    for (const child of [kept, ended]) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
