/** A started task's process until its end: output, timeout, stop, and the end of everything it started. */
import type { TaskResult } from "../protocol/mod.ts";
import { capOutput } from "./_output_cap.ts";
import { descendantPids } from "./process_tree.ts";
import type { TaskCgroup } from "./cgroup.ts";
import { oomKilled } from "./_cgroup_limits.ts";
import { cgroupPids, killCgroup } from "./_cgroup_kill.ts";
import { diskUsage, watchDisk } from "./disk_watch.ts";
import type { Execution, Finished, ProcessSpec } from "./driver.ts";
import type { ExecRuntime } from "./runtime.ts";
import { drain, pump } from "./_output_pump.ts";
import { findSandboxInit, untilGone } from "./_sandbox_init.ts";

/** Everything after the start: output, timeout, stop, and the end of everything the task started. */
export function supervise(
  spec: ProcessSpec,
  runtime: ExecRuntime,
  child: Deno.ChildProcess,
  group: TaskCgroup | null,
  { leader, sandboxed, started }: { leader: boolean; sandboxed: boolean; started: number },
): Execution {
  const pid = child.pid;
  const output = capOutput(spec.maxOutputBytes, spec.onOutput);
  let ending: "timed_out" | "cancelled" | "disk" | null = null;
  // Once the leader is reaped its pid may be reused: nothing is signalled by pid after that.
  let exited = false;
  // Output is read at the agent's pace while the task runs; what is left once it has exited, at once.
  // (Not a race with one exit promise: each pause would leave a reaction on it until the task ends.)
  const held = new Set<() => void>();
  const pace = () => {
    const wait = exited ? null : spec.paceOutput?.();
    if (!wait) return null;
    return new Promise<void>((resolve) => {
      held.add(resolve);
      wait.then(() => held.delete(resolve) && resolve());
    });
  };
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const signalTask = (signal: "SIGTERM" | "SIGKILL") => {
    // Under bwrap the leader is bwrap itself: SIGTERM would kill it and, through --die-with-parent,
    // SIGKILL the task with no grace. So SIGTERM goes to the processes inside, SIGKILL to all.
    if (!sandboxed || signal === "SIGKILL") signalPid(leader ? -pid : pid, signal);
    const inside = new Set([...(group ? cgroupPids(group) : []), ...(sandboxed ? descendantPids(pid) : [])]);
    if (sandboxed && signal === "SIGTERM") inside.delete(pid);
    for (const each of inside) signalPid(each, signal);
  };
  const terminate = (why: "timed_out" | "cancelled") => {
    if (ending || exited) return;
    ending = why;
    signalTask("SIGTERM");
    killTimer = setTimeout(() => exited || signalTask("SIGKILL"), spec.graceMs);
  };
  const timeoutTimer = spec.timeoutMs === null ? undefined : setTimeout(() => terminate("timed_out"), spec.timeoutMs);
  // Past its disk limit a task is killed at once: within a grace period it could write on at full speed.
  const disk = spec.disk ?? null;
  const diskWatch = disk === null ? null : watchDisk(disk.dir, disk.bytes, () => {
    if (ending || exited) return;
    ending = "disk";
    signalTask("SIGKILL");
  });

  const sandboxInit = sandboxed ? findSandboxInit(pid, child.status) : Promise.resolve(null);
  const readers = [pump(child.stdout, "stdout", output.push, pace), pump(child.stderr, "stderr", output.push, pace)];
  const finished = (async (): Promise<Finished> => {
    // Whether the group was seen empty after the task: then it can go to the next task as it is.
    let emptied = false;
    try {
      const status = await child.status;
      exited = true;
      for (const resolve of held) resolve();
      held.clear();
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      diskWatch?.stop();
      // Whatever the task left running dies with it (and stops holding its pipes).
      if (leader) signalPid(-pid, "SIGKILL");
      emptied = group ? await killCgroup(group) : true;
      await untilGone(await sandboxInit);
      // A last look: a file stopped at the limit (RLIMIT_FSIZE) may have ended the task before a watch did.
      if (disk && ending === null && (status.signal === "SIGXFSZ" || ((await diskUsage(disk.dir)) ?? 0) > disk.bytes)) {
        ending = "disk";
      }
      await drain(readers);
      const oom = group !== null && !status.success && oomKilled(group);
      return {
        result: resultOf(status, ending, oom),
        durationMs: performance.now() - started,
        outputTruncated: output.truncated,
      };
    } finally {
      // Empty already (unless the wait above failed); the kernel may refuse the rmdir for a few
      // milliseconds after the last exit, which the task's result need not wait for.
      if (group) runtime.cgroups.release(group, { emptied }).catch(() => {});
    }
  })();

  return { pid, cgroupName: group?.path.split("/").at(-1) ?? null, finished, stop: () => terminate("cancelled") };
}

function resultOf(
  status: Deno.CommandStatus,
  ending: "timed_out" | "cancelled" | "disk" | null,
  oom: boolean,
): TaskResult {
  if (ending) return { kind: ending };
  if (oom) return { kind: "oom" };
  if (status.signal) return { kind: "signaled", signal: status.signal };
  return { kind: "exited", code: status.code };
}

function signalPid(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}
