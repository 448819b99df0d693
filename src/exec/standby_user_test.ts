/** The task user's standby: switched ahead, undumpable while it waits, and the task it becomes as a direct start's. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bash, cgroupSupport, newRuntime, run, start, type TestSpec, waitFor, withTempDir } from "./_testing.ts";
import { standbyAttack, standbyInbox } from "../../testing/standby.ts";
import { lacks } from "../../testing/machine.ts";
import { dropPrivileges, resolveTaskUser, type TaskUser } from "./task_user.ts";
import type { ExecRuntime } from "./runtime.ts";
import type { CgroupSupport } from "./cgroup.ts";

const support = await cgroupSupport();

/** A test with an agent's runtime running as root with a task user, and a task directory that user may reach. */
function userStandbyTest(
  name: string,
  body: (context: { runtime: ExecRuntime; user: TaskUser; dir: string; cgroup: CgroupSupport }) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: Deno.uid() !== 0 || lacks("cgroup"),
    fn: () =>
      withTempDir(async (root) => {
        await Deno.chmod(root, 0o711);
        const dir = join(root, "task");
        await Deno.mkdir(dir);
        await Deno.chmod(dir, 0o777);
        const user = (await resolveTaskUser(undefined))!;
        const runtime = newRuntime({ taskUser: user, cgroup: support });
        try {
          await body({ runtime, user, dir, cgroup: support! });
        } finally {
          await runtime.close();
        }
      }),
  });
}

/** Has the runtime's next standby wait as `user` (the last task offered ran as it), and waits until it does. */
async function userStandby(runtime: ExecRuntime, cgroup: CgroupSupport, user: TaskUser, dir: string): Promise<number> {
  // A task of the user's shows the runtime who the next task runs as.
  await run({ command: bash("true"), cwd: dir, cgroup, user }, runtime);
  runtime.standby.prepare(cgroup, { lang: "C.UTF-8" });
  const state = await waitFor(() => {
    const now = runtime.standby.state();
    return now?.ready && now.user && waitsAs(now.pid, user) ? now : null;
  });
  return state.pid;
}

/**
 * Whether `pid` runs as `user` alone (real, effective, saved uid and gid, no other group) and is
 * undumpable: its /proc/PID/environ is root's.
 */
function waitsAs(pid: number, user: TaskUser): boolean {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const ids = (name: string) => status.match(new RegExp(`^${name}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`, "m"))?.slice(1);
  return ids("Uid")?.every((uid) => Number(uid) === user.uid) === true &&
    ids("Gid")?.every((gid) => Number(gid) === user.gid) === true && /^Groups:\s*$/m.test(status) &&
    Deno.statSync(`/proc/${pid}/environ`).uid === 0;
}

// What a task sees of how it was started, and who it is.
// Its descriptors listed by its own shell, no pipe or subshell: an `ls` in `$(...)` lists its parent's
// while the parent may still hold the pipe's other end (a descriptor 4 now and then, as CI once saw).
const PROBE =
  'env | sort; echo "pwd=$PWD argv0=$0 args=$*"; printf "fds="; for f in /proc/$$/fd/*; do printf "%s " "${f##*/}"; done; echo; for f in /proc/$$/fd/*; do n=${f##*/}; ((n > 3)) && { printf "fd $n: "; readlink "$f" 2>/dev/null || echo; }; done; id -u; id -G; ' +
  "grep -E '^(NoNewPrivs|CapEff|CapPrm|CapInh)' /proc/self/status; echo \"stdin=[$(cat)]\"; " +
  "grep -c '/fabric/pool-' /proc/self/cgroup";

userStandbyTest(
  "a task user's task is handed to a standby already running as that user, and sees what a direct start shows it",
  async ({ runtime, user, dir, cgroup }) => {
    const spec: TestSpec = {
      command: [...bash(PROBE), "first arg", ""],
      cwd: dir,
      env: { PATH: "/usr/bin:/bin", HOME: dir, ODD: "two\nlines = signs", EMPTY: "", LANG: "C.UTF-8" },
      cgroup,
      user,
    };
    const direct = await run(spec, runtime);
    assert.deepEqual(direct.finished.result, { kind: "exited", code: 0 }, direct.stderr);
    const pid = await userStandby(runtime, cgroup, user, dir);
    assert.equal(Deno.readLinkSync(`/proc/${pid}/exe`), Deno.realPathSync("/bin/bash"), "it waits in bash");
    assert.ok(!existsSync(standbyInbox(pid)), "its file has no name once it holds it open");
    const { execution, ran } = start(spec, runtime);
    assert.equal(execution.pid, pid, "the standby became the task");
    const ahead = await ran;
    assert.deepEqual(ahead.finished.result, direct.finished.result, ahead.stderr);
    assert.equal(ahead.stdout, direct.stdout);
    assert.equal(ahead.stderr, direct.stderr);
    assert.match(ahead.stdout, new RegExp(`^${user.uid}\n${user.gid}\nCapInh:\t0+\nCapPrm:\t0+\nCapEff:\t0+\n`, "m"));
    assert.match(ahead.stdout, /^NoNewPrivs:\t1$/m);

    // A task of another user (the agent's own, sandboxed tasks' case) starts directly; the standby stays.
    const next = await userStandby(runtime, cgroup, user, dir);
    const other = await run({ command: bash("echo $$"), cwd: dir, cgroup }, runtime);
    assert.notEqual(other.stdout.trim(), String(next));
    assert.equal(runtime.standby.state()?.pid, next);
  },
);

userStandbyTest(
  "a task running as the task user cannot reach a waiting standby to read or change the next task (no ptrace, /proc/PID/mem or fd)",
  async ({ runtime, user, dir, cgroup }) => {
    const pid = await userStandby(runtime, cgroup, user, dir);
    const loot = join(dir, `loot-${crypto.randomUUID()}`);
    const attack = await new Deno.Command(user.setpriv, {
      args: [...dropPrivileges(user).slice(1), "python3", "-c", standbyAttack(loot, 5)],
      cwd: dir,
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = new TextDecoder().decode(attack.stdout);
    // What the attacker wrote where it injected (only a standby in reach gets that far).
    for (const fake of report.split("\n").filter((l) => l.startsWith("fake:"))) await Deno.remove(fake.slice(5));
    assert.ok(attack.success, new TextDecoder().decode(attack.stderr));
    const line = report.split("\n").find((l) => l.startsWith(`${pid} `));
    assert.ok(line, `the attacker found the standby ${pid}: ${report}`);
    assert.ok(!line.includes(":reached"), `nothing of the waiting standby is in reach: ${line}`);
    assert.match(line, /ptrace:EPERM/);
    assert.match(line, /mem:EACCES/);

    // The next task (through env -i, whose path the attacker went for) is as it was given.
    const { execution, ran } = start({
      command: ["/bin/sh", "-c", 'echo "victim $$ $TOKEN"'],
      cwd: dir,
      env: { PATH: "/usr/bin:/bin", TOKEN: "t0ken" },
      cgroup,
      user,
    }, runtime);
    assert.equal(execution.pid, pid, "the standby the attacker went for became the task");
    const victim = await ran;
    assert.equal(victim.stdout, `victim ${pid} t0ken\n`, victim.stderr);
    assert.ok(!existsSync(loot), "nothing of the task reached the attacker");
  },
);
