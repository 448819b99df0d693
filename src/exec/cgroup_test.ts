import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { descendantPids, isAlive } from "./process_tree.ts";
import {
  bash,
  cgroupSupport,
  newRuntime,
  run,
  sandbox,
  start,
  waitFor,
  withCommandLine,
  withTempDir,
} from "./_testing.ts";
import { createTaskCgroup } from "./_cgroup_create.ts";
import { joinCgroupCommand } from "./_cgroup_join.ts";
import { oomKilled } from "./_cgroup_limits.ts";
import { removeTaskCgroup } from "./_cgroup_kill.ts";
import { detectCgroup, memoryMounts } from "./cgroup_detect.ts";
import { lacks } from "../../testing/machine.ts";

const support = await cgroupSupport();
const ignore = lacks("cgroup");
const ALLOCATE_300_MB = ["python3", "-c", "data = b'x' * (300 << 20); print(len(data) >> 20)"];

function uniqueName(): string {
  return `test-${Deno.pid}-${crypto.randomUUID()}`;
}

Deno.test("memory mounts: cgroup2 with the memory controller first, then v1 memory mounts; others are ignored", () => {
  const mountinfo = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "41 31 0:38 / /no/such/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");
  // The cgroup2 mount has no cgroup.controllers file here, so no memory controller: v1 it is.
  assert.deepEqual(memoryMounts(mountinfo), [{ version: "v1", root: "/sys/fs/cgroup/memory" }]);
});

Deno.test({
  name: "a task runs in its own group from its first instruction",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const cgroupName = uniqueName();
      const ran = await run({ command: ["cat", "/proc/self/cgroup"], cwd: dir, cgroup: support, cgroupName });
      assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
      assert.match(ran.stdout, new RegExp(`/fabric/${cgroupName}$`, "m"));
    });
  },
});

Deno.test({
  name: "a task without a limit gets a kept group, joined by its shell first, reused once empty, not shared",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      // An agent's own: its kept groups go when it closes.
      const runtime = newRuntime();
      const groupOf = (text: string) =>
        text.match(/^\d+:[^:]*memory[^:]*:(.*)$/m)?.[1] ?? text.match(/^0::(.*)$/m)?.[1];
      const first = await run({ command: bash("cat /proc/self/cgroup"), cwd: dir, cgroup: support }, runtime);
      assert.deepEqual(first.finished.result, { kind: "exited", code: 0 }, first.stderr);
      const kept = groupOf(first.stdout);
      assert.match(kept ?? "", new RegExp(`/fabric/pool-${Deno.pid}-[0-9a-f-]+$`));
      // Not a second program: the shell itself joined (a wrapper would show up as the parent).
      assert.equal(first.stderr, "");
      // Released in the background once the task ended: the next task gets it once it is back.
      let reused = false;
      for (let attempt = 0; attempt < 50 && !reused; attempt++) {
        const again = await run({ command: ["cat", "/proc/self/cgroup"], cwd: dir, cgroup: support }, runtime);
        assert.deepEqual(again.finished.result, { kind: "exited", code: 0 });
        reused = groupOf(again.stdout) === kept;
      }
      assert.ok(reused, `the kept group ${kept} was not handed to a later task`);
      // Two tasks at once never share one.
      const a = start({ command: bash("cat /proc/self/cgroup; sleep 0.3"), cwd: dir, cgroup: support }, runtime);
      const b = start({ command: bash("cat /proc/self/cgroup; sleep 0.3"), cwd: dir, cgroup: support }, runtime);
      const [ranA, ranB] = await Promise.all([a.ran, b.ran]);
      assert.notEqual(groupOf(ranA.stdout), groupOf(ranB.stdout));
      await runtime.close();
      await assert.rejects(Deno.stat(join(support!.root, kept!)), "kept groups are removed when the agent leaves");
    });
  },
});

Deno.test({
  name: "a task group is created with its limit and removed",
  ignore,
  fn: async () => {
    const group = createTaskCgroup(support!, { name: uniqueName(), memoryBytes: 64 << 20 });
    try {
      const limitFile = support!.version === "v2" ? "memory.max" : "memory.limit_in_bytes";
      assert.equal(Number(await Deno.readTextFile(join(group.path, limitFile))), 64 << 20);
      assert.equal(oomKilled(group), false);
    } finally {
      await removeTaskCgroup(group);
    }
    await assert.rejects(Deno.stat(group.path));
  },
});

Deno.test({
  name: "an allocation over the memory limit ends as oom; with enough memory it succeeds",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const cgroupName = uniqueName();
      const over = await run({
        command: ALLOCATE_300_MB,
        cwd: dir,
        cgroup: support,
        cgroupName,
        memoryBytes: 64 << 20,
        sandbox: sandbox(dir),
      });
      assert.deepEqual(over.finished.result, { kind: "oom" }, over.stderr);
      // Removed after the result (the kernel may refuse the rmdir for a moment after the last exit).
      await waitFor(() => !existsSync(join(support!.root, "fabric", cgroupName)));

      const enough = await run({ command: ALLOCATE_300_MB, cwd: dir, cgroup: support, memoryBytes: 512 << 20 });
      assert.deepEqual(enough.finished.result, { kind: "exited", code: 0 }, enough.stderr);
      assert.equal(enough.stdout, "300\n");
    });
  },
});

Deno.test({
  name: "a process that left the task's process group with setsid dies with the task through its cgroup",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { execution, ran } = start({
        command: bash("setsid sleep 305 & for i in $(seq 500); do [ -e go ] && break; sleep 0.01; done"),
        cwd: dir,
        cgroup: support,
      });
      const [escaped] = await waitFor(() => {
        const found = withCommandLine(descendantPids(execution.pid), ["sleep", "305"]);
        return found.length === 1 && found;
      });
      await Deno.writeTextFile(join(dir, "go"), "");
      const { finished } = await ran;
      assert.deepEqual(finished.result, { kind: "exited", code: 0 });
      assert.ok(!isAlive(escaped), `pid ${escaped} escaped its task`);
    });
  },
});

Deno.test("a memory limit without a cgroup fails to start instead of running unlimited", async () => {
  await withTempDir(async (dir) => {
    const ran = await run({ command: ["true"], cwd: dir, cgroup: null, memoryBytes: 64 << 20 });
    assert.equal(ran.finished.result.kind, "failed_to_start");
  });
});

Deno.test({
  name: "the group is removed when the command cannot start",
  ignore,
  fn: async () => {
    await withTempDir(async (dir) => {
      const cgroupName = uniqueName();
      const ran = await run({ command: ["no-such-program-fabric"], cwd: dir, cgroup: support, cgroupName });
      assert.deepEqual(ran.finished.result, {
        kind: "failed_to_start",
        message: 'command "no-such-program-fabric" was not found',
      });
      await assert.rejects(Deno.stat(join(support!.root, "fabric", cgroupName)));
    });
  },
});

Deno.test({
  name: "detection clears old empty groups left by a killed agent, and leaves new or busy ones",
  ignore,
  fn: async () => {
    const old = new Date("2020-01-01T00:00:00Z");
    const stale = createTaskCgroup(support!, { name: uniqueName(), memoryBytes: null });
    const fresh = createTaskCgroup(support!, { name: uniqueName(), memoryBytes: null });
    const busy = createTaskCgroup(support!, { name: uniqueName(), memoryBytes: null });
    const [sh, ...args] = joinCgroupCommand(busy, ["sleep", "308"]);
    const sleeper = new Deno.Command(sh, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
    const ended = new Deno.Command("true").spawn();
    await ended.status;
    // Kept (empty) groups of a live agent stay however old; those of an agent that is gone do not.
    const kept = createTaskCgroup(support!, { name: `pool-${sleeper.pid}-${crypto.randomUUID()}`, memoryBytes: null });
    const orphan = createTaskCgroup(support!, { name: `pool-${ended.pid}-${crypto.randomUUID()}`, memoryBytes: null });
    try {
      await waitFor(() => Deno.readTextFileSync(join(busy.path, "cgroup.procs")).trim() !== "");
      for (const group of [stale, busy, kept, orphan]) {
        for (const path of new Set([group.path, group.pidsPath ?? group.path])) await Deno.utime(path, old, old);
      }
      assert.deepEqual(await detectCgroup(), support);
      await assert.rejects(Deno.stat(stale.path), "the stale group is gone");
      await assert.rejects(Deno.stat(orphan.path), "the kept group of a gone agent is gone");
      for (const group of [stale, orphan]) {
        if (group.pidsPath) await assert.rejects(Deno.stat(group.pidsPath), "in the pids hierarchy too");
      }
      assert.ok((await Deno.stat(fresh.path)).isDirectory, "a new group stays");
      assert.ok((await Deno.stat(busy.path)).isDirectory, "a group with processes stays");
      assert.ok((await Deno.stat(kept.path)).isDirectory, "a kept group of a live agent stays");
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      for (const group of [stale, fresh, busy, kept, orphan]) await removeTaskCgroup(group);
    }
  },
});

/** Forks sleepers until a fork fails (at most 100) and prints how many it got. */
const FORK_COUNT = [
  "python3",
  "-c",
  "import os, time\nn = 0\nwhile n < 100:\n  try:\n    pid = os.fork()\n  except OSError:\n    break\n" +
  "  if pid == 0:\n    time.sleep(10)\n    os._exit(0)\n  n += 1\nprint(n)",
];

Deno.test({
  name: "a task's processes stop at its pids limit, and a kept group takes each task's own limit",
  ignore: ignore || !support?.pidsRoot,
  fn: async () => {
    await withTempDir(async (dir) => {
      // python3 itself is one of them: 11 forks under 12, 19 under 20, all 100 without a limit. A kept
      // group adds its last task's processes not yet reaped to the limit (see setPidsLimit): those
      // reaped while this task runs give it as many more, and one more may be counted as it goes
      // (31 under 20 after 11, on a machine at load 20).
      let previous = 0;
      for (const pids of [12, 20, null, 12]) {
        const ran = await run({ command: FORK_COUNT, cwd: dir, cgroup: support, pids });
        assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
        const forks = Number(ran.stdout);
        if (pids === null) assert.equal(forks, 100);
        else assert.ok(forks >= pids - 2 && forks <= pids + previous, `${forks} forks under pids ${pids}`);
        previous = forks;
      }
      const named = createTaskCgroup(support!, { name: uniqueName(), memoryBytes: 64 << 20, pids: 33 });
      try {
        assert.equal((await Deno.readTextFile(join(named.pidsPath!, "pids.max"))).trim(), "33");
      } finally {
        await removeTaskCgroup(named);
      }
      await assert.rejects(Deno.stat(named.pidsPath!), "its pids group goes with it");
    });
  },
});

Deno.test("a file size limit is set by sh in 512-byte blocks before the command, soft and hard", async () => {
  await withTempDir(async (dir) => {
    const command = joinCgroupCommand(null, ["sh", "-c", "ulimit -S -f; ulimit -H -f"], { fileSizeBytes: 1000 });
    assert.deepEqual(command.slice(0, 3), ["/bin/sh", "-c", 'ulimit -f 2 && exec "$@"']);
    const ran = await run({ command, cwd: dir });
    assert.equal(ran.stdout, "2\n2\n");
  });
});
