/**
 * One task process and everything it starts, kept track of by a bubblewrap sandbox (its own PID
 * namespace), a cgroup (which also sets a memory limit), or, without either, its own session and
 * process group. Stopping it reaches all of them: SIGTERM, SIGKILL after the grace period, and
 * SIGKILL to whatever outlives the task's main process.
 *
 * Here: the start. Its command line: _task_command.ts; everything after it: _supervise.ts.
 */
import type { TaskCgroup } from "./cgroup.ts";
import { joinCgroupCommand } from "./_cgroup_join.ts";
import { canWatchDisk } from "./disk_watch.ts";
import type { Execution, Finished, ProcessSpec } from "./driver.ts";
import type { ExecRuntime } from "./runtime.ts";
import { dropPrivileges } from "./task_user.ts";
import { supervise } from "./_supervise.ts";
import { taskCommand } from "./_task_command.ts";

/** Starts the task's process with what the agent's `runtime` keeps (its cgroups, its standby). */
export function startProcess(spec: ProcessSpec, runtime: ExecRuntime): Execution {
  const started = performance.now();
  const sandboxed = spec.sandbox !== undefined;
  // Everything the task starts is found without a process group when it has a cgroup or a
  // sandbox (its own PID namespace). It still gets its own session when this agent has a terminal,
  // whose Ctrl-C and hangup must reach the agent (which drains) and not its tasks. Otherwise the
  // session costs a program start per task for nothing.
  const leader = spec.ownSession ?? (runtime.terminal || !(sandboxed || (spec.cgroup ?? null) !== null));
  const user = spec.user ?? null;
  const disk = spec.disk ?? null;
  let group: TaskCgroup | null = null;
  let child: Deno.ChildProcess;
  try {
    if (disk && !canWatchDisk()) throw new Error("a disk limit needs du, which this agent does not have");
    const { argv: taskArgv, program } = taskCommand(spec, runtime);
    // A task in a kept group: the standby already in one becomes it (or its sandbox), if there is one.
    const ahead = !leader && spec.cgroup && (spec.memoryBytes ?? null) === null && spec.cgroupName === undefined &&
        disk === null
      ? runtime.standby.launch(spec.cgroup, {
        cwd: spec.cwd,
        env: spec.env,
        argv: taskArgv,
        program,
        user: sandboxed ? null : user,
        pids: spec.pids ?? null,
        secretEnv: spec.secretEnv ?? false,
      })
      : null;
    if (ahead) return supervise(spec, runtime, ahead.child, ahead.group, { leader, sandboxed, started });
    // In a sandbox the switch to the task user is bwrap's command; on the host it comes first.
    const command = user && !sandboxed ? [...dropPrivileges(user), ...taskArgv] : taskArgv;
    group = taskCgroup(spec, runtime);
    const inGroup = group || disk ? joinCgroupCommand(group, command, { fileSizeBytes: disk?.bytes }) : command;
    // Through the setsid program rather than `detached`: detached needs a fork of the whole agent
    // (~1.4 ms of its main thread, more as it grows), a plain spawn is a vfork-like posix_spawn
    // (~0.3 ms), and setsid then just execs.
    const argv = leader && runtime.setsid ? [runtime.setsid, ...inGroup] : inGroup;
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: spec.cwd,
      env: spec.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: leader && runtime.setsid === null,
    }).spawn();
  } catch (error) {
    return failedToStart(startError(error, spec), group, runtime);
  }
  return supervise(spec, runtime, child, group, { leader, sandboxed, started });
}

function taskCgroup(spec: ProcessSpec, runtime: ExecRuntime): TaskCgroup | null {
  const memoryBytes = spec.memoryBytes ?? null;
  if (!spec.cgroup) {
    if (memoryBytes !== null) {
      throw new Error(`a memory limit of ${memoryBytes} bytes needs a cgroup memory controller, and none is available`);
    }
    return null;
  }
  return runtime.cgroups.acquire(spec.cgroup, { name: spec.cgroupName, memoryBytes, pids: spec.pids ?? null });
}

function failedToStart(message: string, group: TaskCgroup | null, runtime: ExecRuntime): Execution {
  const finished = (async (): Promise<Finished> => {
    if (group) await runtime.cgroups.release(group).catch(() => {});
    return { result: { kind: "failed_to_start", message }, durationMs: 0, outputTruncated: false };
  })();
  return { pid: 0, cgroupName: null, finished, stop() {} };
}

function startError(error: unknown, spec: ProcessSpec): string {
  if (error instanceof Deno.errors.NotFound && !(error.message.includes("was not found"))) {
    return `command "${spec.command[0]}" was not found`;
  }
  return (error as Error).message;
}
