import assert from "node:assert/strict";
import { join } from "node:path";
import { bash, cgroupSupport, run, sandbox, start, waitFor, withTempDir } from "./_testing.ts";
import { lacks } from "../../testing/machine.ts";
import { handOverTaskDir, resolveTaskUser } from "./task_user.ts";

const support = await cgroupSupport();

Deno.test("exit codes and signals are reported as they happened", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual((await run({ command: bash("exit 3"), cwd: dir })).finished.result, { kind: "exited", code: 3 });
    assert.deepEqual((await run({ command: bash("kill -KILL $$"), cwd: dir })).finished.result, {
      kind: "signaled",
      signal: "SIGKILL",
    });
  });
});

Deno.test("a missing program fails to start with its name", async () => {
  await withTempDir(async (dir) => {
    const ran = await run({ command: ["no-such-program-fabric", "x"], cwd: dir });
    assert.deepEqual(ran.finished.result, {
      kind: "failed_to_start",
      message: 'command "no-such-program-fabric" was not found',
    });
    assert.equal(ran.finished.outputTruncated, false);
  });
});

Deno.test({
  name: "output over the cap is cut with one marker, and the task still runs to its end",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    // 2 MB past a 1000-byte cap: if the pipes were no longer read, the writer would block forever.
    const ran = await run({
      command: bash("head -c 2000000 /dev/zero | tr '\\0' a; echo >&2 late; echo finished > end.txt"),
      cwd: dir,
      maxOutputBytes: 1000,
      cgroup: support,
      sandbox: sandbox(dir),
    });
    assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
    assert.equal(ran.finished.outputTruncated, true);
    assert.equal(ran.stdout, "a".repeat(1000));
    assert.equal(ran.stderr, "\n[fabric: output truncated after 1000 bytes]\n");
    assert.equal(await Deno.readTextFile(`${dir}/end.txt`), "finished\n");
  });
});

Deno.test("output under the cap is passed on whole", async () => {
  await withTempDir(async (dir) => {
    const ran = await run({ command: bash("echo out; echo err >&2"), cwd: dir, maxOutputBytes: 1000 });
    assert.equal(ran.stdout, "out\n");
    assert.equal(ran.stderr, "err\n");
    assert.equal(ran.finished.outputTruncated, false);
  });
});

Deno.test("output held back by paceOutput blocks the task on its pipe until released, and none is lost", async () => {
  await withTempDir(async (dir) => {
    let held = true;
    const gate = Promise.withResolvers<void>();
    let asked = 0;
    const { ran } = start({
      command: bash("head -c 1000000 /dev/zero | tr '\\0' a; echo finished > end.txt"),
      cwd: dir,
      cgroup: support,
      paceOutput: () => (asked++, held ? gate.promise : null),
    });
    await waitFor(() => asked > 0);
    // 1 MB does not fit in a pipe: the writer cannot finish while its output is not read.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await Deno.stat(`${dir}/end.txt`).then(() => true, () => false), false, "the task waits");
    held = false;
    gate.resolve();
    const { finished, stdout } = await ran;
    assert.deepEqual(finished.result, { kind: "exited", code: 0 });
    assert.equal(stdout, "a".repeat(1_000_000));
    assert.equal(await Deno.readTextFile(`${dir}/end.txt`), "finished\n");
  });
});

Deno.test("a task held back for good still times out, and what it wrote before is read", async () => {
  await withTempDir(async (dir) => {
    const ran = await run({
      command: bash("echo first; head -c 1000000 /dev/zero"),
      cwd: dir,
      timeoutMs: 300,
      cgroup: support,
      paceOutput: () => new Promise<void>(() => {}),
    });
    assert.equal(ran.finished.result.kind, "timed_out");
    assert.ok(ran.stdout.startsWith("first\n"), ran.stdout.slice(0, 20));
  });
});

Deno.test("stop sends SIGTERM, then SIGKILL after the grace period, and the result is cancelled", async () => {
  await withTempDir(async (dir) => {
    const { execution, ran } = start({
      command: bash("trap '' TERM; echo ready > ready; sleep 306 & wait; wait"),
      cwd: dir,
      graceMs: 200,
      cgroup: support,
    });
    await waitFor(() => {
      try {
        return Deno.readTextFileSync(`${dir}/ready`) === "ready\n";
      } catch {
        return false;
      }
    });
    execution.stop();
    const { finished } = await ran;
    assert.deepEqual(finished.result, { kind: "cancelled" });
    assert.ok(finished.durationMs >= 200, `the grace period was kept (${finished.durationMs} ms)`);
  });
});

Deno.test({
  name: "a task leads its own session only when nothing else keeps track of it, or when asked to",
  ignore: lacks("cgroup"),
  fn: async () => {
    await withTempDir(async (dir) => {
      // Field 6 of /proc/self/stat is the session id: the task's own pid when it leads one.
      const sessionLeader =
        'read -r line < /proc/self/stat; set -- ${line##*) }; [ "$4" = "$$" ] && echo leader || echo member';
      const bare = await run({ command: bash(sessionLeader), cwd: dir });
      assert.equal(bare.stdout.trim(), "leader", "without a cgroup or sandbox, a session keeps track of it");
      const tracked = await run({ command: bash(sessionLeader), cwd: dir, cgroup: support, ownSession: false });
      assert.equal(tracked.stdout.trim(), "member", "its cgroup keeps track of it: no session needed");
      const asked = await run({ command: bash(sessionLeader), cwd: dir, cgroup: support, ownSession: true });
      assert.equal(asked.stdout.trim(), "leader");
    });
  },
});

Deno.test({
  name: "a task for the task user finds its program as that user, past a directory in PATH only the agent may enter",
  ignore: Deno.uid() !== 0 || lacks("bwrap"),
  fn: async () => {
    const user = (await resolveTaskUser(undefined))!;
    await withTempDir(async (dir) => {
      // As ~root/.pyenv/shims: first in the agent's PATH, closed to anyone else.
      const privateBin = join(dir, "private-bin");
      await Deno.mkdir(privateBin, { mode: 0o700 });
      await Deno.symlink("/usr/bin/python3", join(privateBin, "python3"));
      const work = join(dir, "work");
      await Deno.mkdir(work);
      await Deno.chmod(dir, 0o711);
      await handOverTaskDir(work, user);
      const env = { PATH: `${privateBin}:/usr/bin:/bin`, HOME: work };
      const command = ["python3", "-c", "import os; print(os.getuid())"];
      for (const box of [undefined, sandbox(work)]) {
        const ran = await run({ command, cwd: work, env, user, cgroup: support, sandbox: box });
        assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
        assert.equal(ran.stdout, `${user.uid}\n`, box ? "sandboxed" : "on the host");
      }
    });
  },
});
