/**
 * A process started ahead of the next task, already in a kept cgroup, that becomes the task. Moving a
 * process into a cgroup waits for an RCU grace period when nothing has moved between cgroups for a
 * while: about 12 ms on a quiet machine here (cgroup v1; measured), more than the task it starts. A
 * standby pays that while the agent is idle. It is a bash that joins its group, reads the task's
 * directory, environment and argv from its stdin (NUL-separated) and execs `env -i` with them: the
 * task then has exactly the environment, pid, pipes and group it would have had spawned directly.
 */
import { join } from "node:path";
import { findExecutable } from "./_path_lookup.ts";
import { acquireTaskCgroup, type CgroupSupport, releaseTaskCgroup, type TaskCgroup } from "./cgroup.ts";

// $0: the group's cgroup.procs, $1: env. Without a task on stdin (the agent dropped it, or died) the
// read fails and it exits.
const SCRIPT = `{ echo $$ > "$0"; } 2>/dev/null || exit 125
IFS= read -r -d '' dir && IFS= read -r -d '' count || exit 125
vars=(); for ((i = 0; i < count; i++)); do IFS= read -r -d '' v || exit 125; vars+=("$v"); done
IFS= read -r -d '' count || exit 125
args=(); for ((i = 0; i < count; i++)); do IFS= read -r -d '' v || exit 125; args+=("$v"); done
cd -- "$dir" || exit 125
exec </dev/null "$1" -i -- "\${vars[@]}" "\${args[@]}"`;

const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";
const MAX_LAUNCH_BYTES = 8 * 1024;

/** A standby handed to a task: the task's process from now on, in the task's group. */
export interface TakenStandby {
  child: Deno.ChildProcess;
  group: TaskCgroup;
}

interface Standby extends TakenStandby {
  support: CgroupSupport;
  exited: boolean;
}

let current: Standby | null = null;

/**
 * Starts a standby for the next task that runs on the host in a kept group (one at a time); nothing
 * when there is one, or when bash, env or a group cannot be had.
 */
export function prepareStandby(support: CgroupSupport): void {
  if (current && !current.exited) return;
  const bash = findExecutable("bash", SYSTEM_PATH);
  const env = findExecutable("env", SYSTEM_PATH);
  if (bash === null || env === null) return;
  let group: TaskCgroup;
  try {
    group = acquireTaskCgroup(support, { memoryBytes: null });
  } catch {
    return;
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bash, {
      args: ["--noprofile", "--norc", "-c", SCRIPT, join(group.path, "cgroup.procs"), env],
      // Not in any task's or agent's directory: nothing that looks for a task's leftovers finds it.
      cwd: "/",
      clearEnv: true,
      env: { PATH: SYSTEM_PATH },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    releaseTaskCgroup(group).catch(() => {});
    return;
  }
  const standby: Standby = { child, group, support, exited: false };
  current = standby;
  child.status.then(() => {
    standby.exited = true;
    if (current !== standby) return; // handed to a task, which owns it now
    current = null;
    child.stdout.cancel().catch(() => {});
    child.stderr.cancel().catch(() => {});
    releaseTaskCgroup(group).catch(() => {});
  });
}

export interface HostTask {
  cwd: string;
  env: Record<string, string>;
  argv: string[];
}

/**
 * Hands the task to the standby, if there is one for this cgroup support, alive and already in its
 * group (one still joining, or whose join failed, is not used: it could exit as the task), and the
 * task can be handed over; null otherwise (the task starts directly). A busy agent has no standby:
 * nothing of the task is looked at then.
 */
export function launchInStandby(support: CgroupSupport, task: HostTask): TakenStandby | null {
  const standby = current;
  if (!standby || standby.exited || standby.support.root !== support.root) return null;
  if (!launchable(task) || !inGroup(standby.child.pid, standby.group)) return null;
  current = null;
  launch(standby, task);
  return { child: standby.child, group: standby.group };
}

/** Writes the task to the standby's stdin: its directory, its whole environment, its argv (argv[0] a path). */
function launch(standby: TakenStandby, task: HostTask): void {
  const vars = Object.entries(task.env).map(([name, value]) => `${name}=${value}`);
  const fields = [task.cwd, String(vars.length), ...vars, String(task.argv.length), ...task.argv];
  const writer = standby.child.stdin.getWriter();
  // Settles when the standby has read it all; a standby that died meanwhile shows in the task's status.
  writer.write(new TextEncoder().encode(fields.map((field) => `${field}\0`).join("")))
    .then(() => writer.close())
    .catch(() => {});
}

/**
 * Whether a task can be handed over: its program is a path env cannot take for a variable (no "="),
 * nothing holds a NUL, and it is small. bash reads a pipe a byte at a time (~0.4 us each: a 2 KB
 * task costs under a millisecond, 100 KB 40 ms, more than the wait a standby saves), so a large one
 * starts directly.
 */
function launchable(task: HostTask): boolean {
  if (!task.argv[0].startsWith("/") || task.argv[0].includes("=")) return false;
  // A NUL would end a field early (a direct start refuses it instead).
  const fields = [task.cwd, ...Object.entries(task.env).flat(), ...task.argv];
  let bytes = 0;
  for (const field of fields) {
    if (field.includes("\0")) return false;
    bytes += field.length + 1;
  }
  return bytes <= MAX_LAUNCH_BYTES;
}

/** Ends the standby, if any (the agent is leaving); resolves once it is gone and its group back in the pool. */
export async function dropStandby(): Promise<void> {
  const standby = current;
  if (!standby || standby.exited) return;
  // Without its task on stdin it exits by itself; the exit handler releases the group.
  await standby.child.stdin.close().catch(() => standby.child.kill("SIGKILL"));
  await standby.child.status;
  await new Promise((resolve) => setTimeout(resolve, 0)); // the exit handler's release runs first
}

/** The standby's pid, and whether it is in its group yet (null: there is none). */
export function standbyState(): { pid: number; ready: boolean } | null {
  if (!current || current.exited) return null;
  return { pid: current.child.pid, ready: inGroup(current.child.pid, current.group) };
}

function inGroup(pid: number, group: TaskCgroup): boolean {
  try {
    // v1: "7:memory:/fabric/pool-..." among the other hierarchies; v2: "0::/fabric/pool-...". The
    // path is relative to the hierarchy's root, which the group's own path ends with.
    return Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n").some((line) => {
      const [id, controllers, ...rest] = line.split(":");
      const path = rest.join(":");
      const memory = group.version === "v2"
        ? id === "0" && controllers === ""
        : controllers?.split(",").includes("memory");
      return memory === true && path.length > 1 && group.path.endsWith(path);
    });
  } catch {
    return false;
  }
}
