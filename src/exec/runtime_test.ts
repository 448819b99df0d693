/** Two agents' runtimes in one process: each keeps its own standby, groups and mirrors, and closes alone. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { namedTaskCgroup } from "./cgroup.ts";
import { createTaskCgroup } from "./_cgroup_create.ts";
import { removeTaskCgroup } from "./_cgroup_kill.ts";
import { detectCgroup } from "./cgroup_detect.ts";
import { isAlive } from "./process_tree.ts";
import { bash, cgroupSupport, newRuntime, run, start, waitFor, withTempDir } from "./_testing.ts";
import type { ExecRuntime } from "./runtime.ts";
import { lacks } from "../../testing/machine.ts";

const support = await cgroupSupport();

/** The group the task's output names (its memory hierarchy's line of /proc/self/cgroup), as a directory. */
function groupOf(text: string): string {
  const path = text.match(/^\d+:[^:]*memory[^:]*:(.*)$/m)?.[1] ?? text.match(/^0::(.*)$/m)?.[1];
  assert.ok(path, `a memory group in:\n${text}`);
  return join(support!.root, path);
}

/** Has the runtime start its standby and waits until it is in its group; its pid. */
async function readyStandby(runtime: ExecRuntime): Promise<number> {
  runtime.prepareStandby("C.UTF-8");
  const state = await waitFor(() => {
    const now = runtime.standby.state();
    return now?.ready ? now : null;
  }, 10_000);
  return state.pid;
}

const CGROUP = bash("cat /proc/self/cgroup");

Deno.test({
  name: "two agents' runtimes in one process share nothing, and closing one leaves the other working",
  ignore: lacks("cgroup"),
  fn: () =>
    withTempDir(async (dir) => {
      const [a, b] = ["a", "b"].map((name) => newRuntime({ dataDir: join(dir, name), cgroup: support }));
      try {
        assert.ok(a.gitMirrors.dir.startsWith(join(dir, "a")) && b.gitMirrors.dir.startsWith(join(dir, "b")));

        // Each its own standby: a task of one becomes that one's, the other's keeps waiting.
        const [standbyA, standbyB] = await Promise.all([readyStandby(a), readyStandby(b)]);
        assert.notEqual(standbyA, standbyB);
        const taskA = start({ command: CGROUP, cwd: dir, cgroup: support }, a);
        assert.equal(taskA.execution.pid, standbyA, "a's task is a's standby");
        assert.equal(b.standby.state()?.pid, standbyB, "b's standby is still waiting");
        const taskB = start({ command: CGROUP, cwd: dir, cgroup: support }, b);
        assert.equal(taskB.execution.pid, standbyB, "b's task is b's standby");
        const [ranA, ranB] = await Promise.all([taskA.ran, taskB.ran]);
        assert.deepEqual([ranA.finished.result, ranB.finished.result], [
          { kind: "exited", code: 0 },
          { kind: "exited", code: 0 },
        ]);
        const [groupA, groupB] = [groupOf(ranA.stdout), groupOf(ranB.stdout)];
        assert.notEqual(groupA, groupB);

        // Each its own kept groups: a runtime's next task gets the group its last one left, never the other's.
        for (const [runtime, own, other] of [[a, groupA, groupB], [b, groupB, groupA]] as const) {
          const next = await run({ command: CGROUP, cwd: dir, cgroup: support }, runtime);
          assert.equal(groupOf(next.stdout), own);
          assert.notEqual(groupOf(next.stdout), other);
        }

        // Closing a ends its standby and removes its groups; b's standby, in b's group, takes b's next task.
        const [nextA, nextB] = await Promise.all([readyStandby(a), readyStandby(b)]);
        await a.close();
        assert.ok(!isAlive(nextA), "a's standby ended with it");
        assert.ok(!existsSync(groupA), `a's kept group ${groupA} is removed`);
        assert.equal(b.standby.state()?.pid, nextB);
        assert.ok(existsSync(groupB));
        const later = start({ command: CGROUP, cwd: dir, cgroup: support }, b);
        assert.equal(later.execution.pid, nextB, "b's task is b's standby");
        const laterRan = await later.ran;
        assert.deepEqual(laterRan.finished.result, { kind: "exited", code: 0 });
        assert.equal(groupOf(laterRan.stdout), groupB);

        // A closed runtime starts no standby, and keeps no group: a task still runs, and its group goes with it.
        a.prepareStandby("C.UTF-8");
        assert.equal(a.standby.state(), null);
        const after = await run({ command: CGROUP, cwd: dir, cgroup: support }, a);
        assert.deepEqual(after.finished.result, { kind: "exited", code: 0 });
        const afterGroup = groupOf(after.stdout);
        await waitFor(() => !existsSync(afterGroup));
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }),
});

Deno.test({
  name: "another agent starting in the same process leaves a runtime's kept groups however old, " +
    "and clears those of an earlier process that had this pid",
  ignore: lacks("cgroup"),
  fn: () =>
    withTempDir(async (dir) => {
      const runtime = newRuntime({ dataDir: join(dir, "a"), cgroup: support });
      // As a killed agent whose pid this process got would have left it (its start time is not ours).
      const earlier = createTaskCgroup(support!, {
        name: `pool-${Deno.pid}-1-${crypto.randomUUID()}`,
        memoryBytes: null,
      });
      try {
        const ran = await run({ command: CGROUP, cwd: dir, cgroup: support }, runtime);
        const kept = namedTaskCgroup(support!, basename(groupOf(ran.stdout)));
        const old = new Date("2020-01-01T00:00:00Z");
        for (const group of [kept, earlier]) {
          for (const path of new Set([group.path, group.pidsPath ?? group.path])) await Deno.utime(path, old, old);
        }
        await detectCgroup(); // what another agent's start does
        assert.ok(existsSync(kept.path), `the runtime's kept group ${kept.path} stays`);
        if (kept.pidsPath) assert.ok(existsSync(kept.pidsPath), "in the pids hierarchy too");
        assert.ok(!existsSync(earlier.path), "the earlier process's is cleared");
        await runtime.close();
        assert.ok(!existsSync(kept.path), "the runtime's kept group goes when it closes");
      } finally {
        await runtime.close();
        await removeTaskCgroup(earlier).catch(() => {});
      }
    }),
});
