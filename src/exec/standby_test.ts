import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "./process_tree.ts";
import {
  bash,
  cgroupSupport,
  type Ran,
  run,
  sandbox,
  start,
  testRuntime,
  type TestSpec,
  waitFor,
  withTempDir,
} from "./_testing.ts";
import { standbyInbox } from "../../testing/standby.ts";
import { lacks } from "../../testing/machine.ts";
import { resolveTaskUser } from "./task_user.ts";

const support = await cgroupSupport();
// The standby of the runtime this file's tasks start with (as an agent's tasks start with its own).
const standby = testRuntime().standby;

/**
 * A test in a fresh directory, with whatever standby it left ended; with `bwrap` when it needs a
 * sandbox too, and `root` when it needs an agent running as root (one with a task user).
 */
function standbyTest(
  name: string,
  body: (dir: string) => Promise<void>,
  { bwrap = false, root = false }: { bwrap?: boolean; root?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: (root && Deno.uid() !== 0) || lacks("cgroup", ...(bwrap ? ["bwrap" as const] : [])),
    fn: () =>
      withTempDir(async (dir) => {
        try {
          await body(dir);
        } finally {
          await standby.drop();
        }
      }),
  });
}

/** The directory of `pid`'s group in the pids hierarchy. */
function pidsGroupOf(pid: number): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
  const line = support!.version === "v2"
    ? lines.find((l) => l.startsWith("0::"))
    : lines.find((l) => l.split(":")[1]?.split(",").includes("pids"));
  assert.ok(line, `a pids group in /proc/${pid}/cgroup`);
  return join(support!.pidsRoot!, line.split(":").slice(2).join(":"));
}

async function readyStandby(inboxDir?: string): Promise<number> {
  // The locale the agent gives tasks, loaded ahead as the agent has it.
  standby.prepare(support!, { inboxDir, lang: "C.UTF-8" });
  // Settled: in its group (it opened its file before), as an agent's standby is once idle a while.
  const state = await waitFor(() => {
    const now = standby.state();
    return now?.ready && Deno.readTextFileSync(`/proc/${now.pid}/cgroup`).includes("/fabric/pool-") ? now : null;
  });
  return state.pid;
}

// What a task can see of how it was started: its environment, directory, argv, open files, stdin
// and group.
// Its descriptors listed by its own shell, no pipe or subshell: an `ls` in `$(...)` lists its parent's
// while the parent may still hold the pipe's other end (a descriptor 4 now and then, as CI once saw).
const PROBE =
  'env | sort; echo "odd=[$ODD] pwd=$PWD argv0=$0 args=$*"; printf "fds="; for f in /proc/$$/fd/*; do printf "%s " "${f##*/}"; done; echo; for f in /proc/$$/fd/*; do n=${f##*/}; ((n > 3)) && { printf "fd $n: "; readlink "$f" 2>/dev/null || echo; }; done; ' +
  "echo \"stdin=[$(cat)]\"; grep -c '/fabric/pool-' /proc/self/cgroup";

/** Runs `command` directly, then through a standby, and asserts the two saw the same. */
async function sameThroughStandby(spec: TestSpec, inboxDir?: string): Promise<Ran> {
  const direct = await run(spec);
  const pid = await readyStandby(inboxDir);
  const inbox = standbyInbox(pid);
  const { execution, ran } = start(spec);
  assert.equal(execution.pid, pid, "the standby became the task");
  assert.equal(standby.state(), null);
  const ahead = await ran;
  assert.deepEqual(ahead.finished.result, direct.finished.result);
  assert.equal(ahead.stdout, direct.stdout);
  assert.equal(ahead.stderr, direct.stderr);
  if (inbox) assert.ok(!existsSync(inbox), "the task's file is gone once it is read");
  return ahead;
}

standbyTest("a task handed to a standby sees what it would have seen spawned directly", async (dir) => {
  const env = { PATH: "/usr/bin:/bin", HOME: dir, ODD: "two\nlines and = signs", EMPTY: "", LANG: "C.UTF-8" };
  const command = [...bash(PROBE), "first arg", ""];
  const ahead = await sameThroughStandby({ command, cwd: dir, env, cgroup: support });
  assert.deepEqual(ahead.finished.result, { kind: "exited", code: 0 });
  assert.match(ahead.stdout, /^odd=\[two\nlines and = signs\] pwd=\S+ argv0=first arg args=$/m);
  // In its group: one line per hierarchy it is in (memory, and pids where v1 has it apart).
  assert.match(ahead.stdout, /stdin=\[\]\n[12]\n$/);

  await readyStandby();
  const failed = await run({ command: bash("exit 7"), cwd: dir, env, cgroup: support });
  assert.deepEqual(failed.finished.result, { kind: "exited", code: 7 });
});

standbyTest("a sandboxed task handed to a standby sees what it would have seen spawned directly", async (dir) => {
  const env = { PATH: "/usr/bin:/bin", HOME: dir, ODD: "two\nlines and = signs", LANG: "C.UTF-8" };
  const ahead = await sameThroughStandby({
    command: [...bash(PROBE), "first"],
    cwd: dir,
    env,
    cgroup: support,
    sandbox: sandbox(dir),
  });
  assert.deepEqual(ahead.finished.result, { kind: "exited", code: 0 });
  assert.match(ahead.stdout, /^odd=\[two\nlines and = signs\] pwd=\S+ argv0=first args=$/m);
}, { bwrap: true });

standbyTest("what a task started through a standby leaves behind dies with it", async (dir) => {
  const pid = await readyStandby();
  const { execution, ran } = start({
    command: bash("sleep 30 & setsid sleep 30 & echo $! ; wait"),
    cwd: dir,
    cgroup: support,
    timeoutMs: 300,
    graceMs: 100,
  });
  assert.equal(execution.pid, pid);
  const done = await ran;
  assert.deepEqual(done.finished.result, { kind: "timed_out" });
  const escaped = Number(done.stdout.trim());
  assert.ok(escaped > 0);
  assert.ok(!isAlive(escaped), `pid ${escaped} escaped its task`);
});

standbyTest("a standby that died is passed over, and a dropped one is gone", async (dir) => {
  const dead = await readyStandby();
  Deno.kill(dead, "SIGKILL");
  await waitFor(() => standby.state() === null);
  const { execution, ran } = start({ command: bash("echo ok"), cwd: dir, cgroup: support });
  assert.notEqual(execution.pid, dead);
  assert.equal((await ran).stdout, "ok\n");

  const dropped = await readyStandby();
  await standby.drop();
  assert.equal(standby.state(), null);
  assert.ok(!isAlive(dropped));
});

standbyTest("a task too large for a standby, or holding a NUL, starts directly and the standby stays", async (dir) => {
  const pid = await readyStandby();
  const large = await run({ command: bash(`echo ${"x".repeat(40_000)} | wc -c`), cwd: dir, cgroup: support });
  assert.equal(large.stdout, "40001\n");
  const nul = await run({
    command: bash("echo hi"),
    cwd: dir,
    cgroup: support,
    env: { PATH: "/usr/bin:/bin", BAD: "a\0b" },
  });
  assert.equal(nul.finished.result.kind, "failed_to_start");
  assert.equal(standby.state()?.pid, pid, "neither took the standby");
});

standbyTest(
  "a task that is not bash, or whose environment bash would change, still sees exactly its own",
  async (dir) => {
    const base = { PATH: "/usr/bin:/bin", HOME: dir };
    const sh = ["/bin/sh", "-c", "env | sort"];
    await sameThroughStandby({ command: sh, cwd: dir, env: base, cgroup: support });
    const bashOwn: Record<string, string>[] = [
      { SHLVL: "5" },
      { PWD: "/nowhere", OLDPWD: "/" },
      { RANDOM: "7" },
      { f: "1" },
      { "odd-name": "x" },
    ];
    for (const own of bashOwn) {
      const ran = await sameThroughStandby({
        command: bash("env | sort"),
        cwd: dir,
        env: { ...base, ...own },
        cgroup: support,
      });
      assert.equal(ran.finished.result.kind, "exited", JSON.stringify(own));
    }
  },
);

standbyTest("where no file can be made for it, the task comes on the standby's stdin", async (dir) => {
  const env = { PATH: "/usr/bin:/bin", HOME: dir, ODD: "a = b" };
  const ran = await sameThroughStandby(
    { command: [...bash(PROBE), "x"], cwd: dir, env, cgroup: support },
    join(dir, "none"),
  );
  assert.match(ran.stdout, /^odd=\[a = b\] pwd=\S+ argv0=x args=$/m);

  const pid = await readyStandby();
  const inbox = standbyInbox(pid);
  assert.ok(existsSync(inbox));
  await standby.drop();
  assert.ok(!existsSync(inbox), "a dropped standby's file is removed");
});

standbyTest(
  "a plain bash task is exec'd by the standby itself; one with a variable bash keeps, or another program, through env -i",
  async (dir) => {
    // What the task was exec'd with, before its own bash changed anything: bash's exec adds SHLVL=0, env -i does not.
    const environ = (command: string[], env: Record<string, string>) =>
      readyStandby().then(async () => {
        const ran = await run({ command, cwd: dir, env, cgroup: support });
        assert.equal(standby.state(), null, "the standby took the task");
        return ran.stdout.split("\n").filter((line) => line.startsWith("SHLVL="));
      });
    const base = { PATH: "/usr/bin:/bin", HOME: dir };
    const probe = "tr '\\0' '\\n' < /proc/$$/environ";
    assert.deepEqual(await environ(bash(probe), base), ["SHLVL=0"], "exported and exec'd by bash");
    assert.deepEqual(await environ(bash(probe), { ...base, SHLVL: "5" }), ["SHLVL=5"], "through env -i, as given");
    assert.deepEqual(await environ(["/bin/sh", "-c", probe], base), [], "another program: through env -i");
  },
);

standbyTest(
  "a task for the task user is exec'd by the standby through the switch to that user, under its process limit",
  async (dir) => {
    const user = (await resolveTaskUser(undefined))!;
    assert.ok(support?.pidsRoot, "a pids controller beside the memory one");
    await Deno.chmod(dir, 0o755);
    const pid = await readyStandby();
    const pidsMax = join(pidsGroupOf(pid), "pids.max");
    const forks =
      "import os, time\nn = 0\nwhile n < 100:\n  try:\n    pid = os.fork()\n  except OSError:\n    break\n" +
      "  if pid == 0:\n    time.sleep(5)\n    os._exit(0)\n  n += 1\nprint(n)";
    const { execution, ran } = start({
      command: bash(`id -u; id -G; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status; python3 -c '${forks}'`),
      cwd: dir,
      env: { PATH: "/usr/bin:/bin", HOME: dir },
      cgroup: support,
      user,
      pids: 16,
    });
    assert.equal(execution.pid, pid, "the standby became the task");
    const done = await ran;
    assert.deepEqual(done.finished.result, { kind: "exited", code: 0 }, done.stderr);
    const [uid, groups, capabilities, noNewPrivs, forked] = done.stdout.trim().split("\n");
    assert.deepEqual([uid, groups, capabilities, noNewPrivs], [
      String(user.uid),
      String(user.gid),
      "CapEff:\t0000000000000000",
      "NoNewPrivs:\t1",
    ]);
    // 16 with python itself (the last command, bash execs it): 15 forks at most, and as many more as
    // the group held of an earlier task's processes not reaped yet (see setPidsLimit), up to 32.
    const max = Number(Deno.readTextFileSync(pidsMax));
    assert.ok(max >= 16 && max <= 16 + 32, `pids.max ${max}`);
    assert.ok(Number(forked) > 0 && Number(forked) <= max - 1, `forked ${forked} under pids.max ${max}`);
  },
  { root: true },
);

/**
 * Reads `/proc/PID/cmdline` of `pid` as fast as it can on a thread of its own (as any user of the
 * machine may), until `stop` or the process is gone; resolves whether it ever held `value`.
 */
function watchCommandLine(pid: number, value: string): { stop: () => void; saw: Promise<boolean> } {
  const code = `self.onmessage = (e) => {
    const { pid, value, stopAt } = e.data;
    const flag = new Int32Array(e.data.stop);
    let saw = false;
    while (Atomics.load(flag, 0) === 0 && Date.now() < stopAt) {
      try {
        if (new TextDecoder().decode(Deno.readFileSync("/proc/" + pid + "/cmdline")).includes(value)) { saw = true; break; }
      } catch { break; }
    }
    self.postMessage(saw);
  };`;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const stop = new SharedArrayBuffer(4);
  const saw = new Promise<boolean>((resolve) => {
    worker.onmessage = (event) => {
      worker.terminate();
      URL.revokeObjectURL(url);
      resolve(event.data);
    };
  });
  worker.postMessage({ pid, value, stopAt: Date.now() + 10_000, stop });
  return { stop: () => Atomics.store(new Int32Array(stop), 0, 1), saw };
}

standbyTest(
  "a task whose environment holds secrets never shows them on a command line: a program env -i would exec starts directly",
  async (dir) => {
    const secret = `s3cr3t-${crypto.randomUUID()}`;
    const env = { PATH: "/usr/bin:/bin", HOME: dir, TOKEN: secret };
    // Not bash: the standby would exec env -i TOKEN=... printenv, whose command line any process can read
    // until env execs printenv (caught in 16 launches of 20 without this rule): ten tries.
    const seen: number[] = [];
    const taken: number[] = [];
    for (let i = 0; i < 10; i++) {
      const pid = await readyStandby();
      const watch = watchCommandLine(pid, secret);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the watcher is reading
      const spec = { command: ["/usr/bin/printenv", "TOKEN"], cwd: dir, env, cgroup: support, secretEnv: true };
      const ran = await run(spec);
      watch.stop();
      if (await watch.saw) seen.push(i);
      if (standby.state()?.pid !== pid) taken.push(i);
      assert.equal(ran.stdout, `${secret}\n`, "the task has it in its environment");
    }
    assert.deepEqual(seen, [], "the tries in which the standby's command line held the secret");
    assert.deepEqual(taken, [], "the tries in which the standby took the task");
    // bash: the standby exports the environment and execs the task itself: nothing goes on a command line.
    const pid = await readyStandby();
    const watch = watchCommandLine(pid, secret);
    const { execution, ran } = start({
      command: bash('echo "$TOKEN"; sleep 0.2'),
      cwd: dir,
      env,
      cgroup: support,
      secretEnv: true,
    });
    assert.equal(execution.pid, pid, "the standby took the bash task");
    assert.equal((await ran).stdout, `${secret}\n`);
    watch.stop();
    assert.equal(await watch.saw, false);
  },
);

standbyTest(
  "a task handed to a standby just started, before it opened its file, comes on its stdin and sees the same",
  async (dir) => {
    const env = { PATH: "/usr/bin:/bin", HOME: dir, ODD: "two\nlines and = signs", LANG: "C.UTF-8" };
    const spec = { command: [...bash(PROBE), "first"], cwd: dir, env, cgroup: support };
    const direct = await run(spec);
    // In the same turn as its start: its bash has not even started yet (its command line is still Deno's).
    standby.prepare(support!, { lang: "C.UTF-8" });
    const pid = standby.state()!.pid;
    const { execution, ran } = start(spec);
    assert.equal(execution.pid, pid, "the standby became the task");
    const ahead = await ran;
    assert.deepEqual(ahead.finished.result, direct.finished.result, ahead.stderr);
    assert.equal(ahead.stdout, direct.stdout);
    assert.equal(ahead.stderr, direct.stderr);
  },
);
