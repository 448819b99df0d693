import assert from "node:assert/strict";
import { isAlive } from "./_process_tree.ts";
import { bash, cgroupSupport, run, start, waitFor, withTempDir } from "./_testing.ts";
import { dropStandby, prepareStandby, standbyState } from "./standby.ts";

const support = await cgroupSupport();

/** A test in a fresh directory, with whatever standby it left ended. */
function standbyTest(name: string, body: (dir: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !support,
    fn: () =>
      withTempDir(async (dir) => {
        try {
          await body(dir);
        } finally {
          await dropStandby();
        }
      }),
  });
}

async function readyStandby(): Promise<number> {
  prepareStandby(support!);
  const state = await waitFor(() => {
    const now = standbyState();
    return now?.ready ? now : null;
  });
  return state.pid;
}

// What a task can see of how it was started: its environment, directory, argv, stdin and group.
const PROBE = 'env | sort; echo "odd=[$ODD] pwd=$PWD argv0=$0 args=$*"; echo "stdin=[$(cat)]"; ' +
  "grep -c '/fabric/pool-' /proc/self/cgroup";

standbyTest("a task handed to a standby sees what it would have seen spawned directly", async (dir) => {
  const env = { PATH: "/usr/bin:/bin", HOME: dir, ODD: "two\nlines and = signs", EMPTY: "" };
  const command = [...bash(PROBE), "first arg", ""];
  const direct = await run({ command, cwd: dir, env, cgroup: support });
  const pid = await readyStandby();
  const { execution, ran } = start({ command, cwd: dir, env, cgroup: support });
  assert.equal(execution.pid, pid, "the standby became the task");
  assert.equal(standbyState(), null);
  const ahead = await ran;
  assert.deepEqual(ahead.finished.result, { kind: "exited", code: 0 });
  assert.equal(ahead.stdout, direct.stdout);
  assert.equal(ahead.stderr, direct.stderr);
  assert.match(ahead.stdout, /^odd=\[two\nlines and = signs\] pwd=\S+ argv0=first arg args=$/m);
  assert.match(ahead.stdout, /stdin=\[\]\n1\n$/);

  await readyStandby();
  const failed = await run({ command: bash("exit 7"), cwd: dir, env, cgroup: support });
  assert.deepEqual(failed.finished.result, { kind: "exited", code: 7 });
});

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
  await waitFor(() => standbyState() === null);
  const { execution, ran } = start({ command: bash("echo ok"), cwd: dir, cgroup: support });
  assert.notEqual(execution.pid, dead);
  assert.equal((await ran).stdout, "ok\n");

  const dropped = await readyStandby();
  await dropStandby();
  assert.equal(standbyState(), null);
  assert.ok(!isAlive(dropped));
});

standbyTest("a task too large for a standby, or holding a NUL, starts directly and the standby stays", async (dir) => {
  const pid = await readyStandby();
  const large = await run({ command: bash(`echo ${"x".repeat(10_000)} | wc -c`), cwd: dir, cgroup: support });
  assert.equal(large.stdout, "10001\n");
  const nul = await run({
    command: bash("echo hi"),
    cwd: dir,
    cgroup: support,
    env: { PATH: "/usr/bin:/bin", BAD: "a\0b" },
  });
  assert.equal(nul.finished.result.kind, "failed_to_start");
  assert.equal(standbyState()?.pid, pid, "neither took the standby");
});
