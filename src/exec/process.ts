/**
 * One task process and everything it starts, kept track of by a bubblewrap sandbox (its own PID
 * namespace), a cgroup (which also sets a memory limit), or, without either, its own session and
 * process group. Stopping it reaches all of them: SIGTERM, SIGKILL after the grace period, and
 * SIGKILL to whatever outlives the task's main process.
 */
import { resolve } from "node:path";
import { setImmediate } from "node:timers";
import type { Stream, TaskResult } from "../protocol/mod.ts";
import { capOutput } from "./_output_cap.ts";
import { childPids, descendantPids, identify, isRunning, type ProcessIdentity } from "./process_tree.ts";
import type { TaskCgroup } from "./cgroup.ts";
import { joinCgroupCommand } from "./_cgroup_join.ts";
import { oomKilled } from "./_cgroup_limits.ts";
import { cgroupPids, killCgroup } from "./_cgroup_kill.ts";
import { canWatchDisk, diskUsage, watchDisk } from "./disk_watch.ts";
import type { Execution, Finished, ProcessSpec } from "./driver.ts";
import { bwrapArgs } from "./sandbox.ts";
import type { ExecRuntime } from "./runtime.ts";
import { dropPrivileges, unreachableReason } from "./task_user.ts";
import { SYSTEM_PATH } from "./_path_lookup.ts";

/** How long the pipes may stay open once the task and its group are dead (only an escaped process holds them). */
const DRAIN_MS = 2000;

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

/** Everything after the start: output, timeout, stop, and the end of everything the task started. */
function supervise(
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

/**
 * bwrap's init (pid 1 of the sandbox, bwrap's only child). bwrap exits as soon as the task's main
 * process does, while its init may still be killing the rest of the sandbox: the task is over
 * only when the init is gone. Found early, because once bwrap exits it is no longer bwrap's child.
 */
async function findSandboxInit(pid: number, exit: Promise<unknown>): Promise<ProcessIdentity | null> {
  let exited = false;
  exit.then(() => (exited = true), () => (exited = true));
  for (let attempt = 0; attempt < 500 && !exited; attempt++) {
    const [init] = childPids(pid);
    const found = init === undefined ? null : identify(init);
    if (found) return found;
    // The task's end cuts the wait short: the result does not wait for a timer to run out.
    await Promise.race([exit.catch(() => {}), pause(attempt)]);
  }
  return null;
}

/** Waits (briefly: it is already dying) until the sandbox's init has torn its pid namespace down. */
async function untilGone(process: ProcessIdentity | null): Promise<void> {
  for (let attempt = 0; process && attempt < 300 && isRunning(process); attempt++) await pause(attempt);
}

/**
 * A wait between two looks at something that changes within microseconds to milliseconds: first a
 * turn of the event loop (Deno's shortest timer is ~2 ms, longer than most of these waits), then timers.
 */
function pause(attempt: number): Promise<void> {
  if (attempt < 10) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, Math.min(attempt - 9, 5)));
}

/**
 * The argv to spawn: the task's own, behind bwrap (and the switch to the task user) when sandboxed;
 * and the path of the task's program. A missing program, or a directory the task user cannot reach on
 * the host, fails the start.
 */
function taskCommand(spec: ProcessSpec, runtime: ExecRuntime): { argv: string[]; program: string } {
  const searchPath = spec.env.PATH ?? SYSTEM_PATH;
  const program = spec.command[0].includes("/") ? resolve(spec.cwd, spec.command[0]) : spec.command[0];
  const found = runtime.programs.find(program, searchPath);
  if (found === null) throw new Deno.errors.NotFound(`command "${spec.command[0]}" was not found`);
  const user = spec.user ?? null;
  const args = spec.command.slice(1);
  if (!spec.sandbox) {
    const unreachable = user ? unreachableReason(spec.cwd, user) : null;
    if (unreachable) {
      throw new Error(
        `the task's directory "${spec.cwd}" is out of the task user's reach: ${unreachable}; ` +
          "start the agent with a --data-dir that user can reach (e.g. under /var/lib)",
      );
    }
    // Spawned by its path: Deno would search PATH again (~0.1 ms a task). Not for the task user, whom
    // the path found by the agent may not be open to (~root/.pyenv): setpriv searches PATH as that user.
    return { argv: [user ? program : found, ...args], program: found };
  }
  const [bwrap, ...rest] = bwrapArgs({ ...spec.sandbox, user }, runtime.systemMounts.args());
  const bwrapPath = runtime.programs.find(bwrap, `${searchPath}:${SYSTEM_PATH}`);
  if (bwrapPath === null) throw new Deno.errors.NotFound(`the sandbox needs "bwrap" (bubblewrap), which was not found`);
  // Looked up again inside, where the agent's PATH may lead elsewhere (/root is not there).
  return { argv: [bwrapPath, ...rest, ...spec.command], program: found };
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

/** A read this large means the pipe was full: no need to wait before the next. */
const FULL_READ = 32 * 1024;

function signalPid(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

interface Reader {
  done: Promise<void>;
  cancel(): void;
}

function pump(
  stream: ReadableStream<Uint8Array>,
  name: Stream,
  onOutput: (stream: Stream, data: Uint8Array) => void,
  pace: () => Promise<void> | null,
): Reader {
  const reader = stream.getReader();
  const done = (async () => {
    try {
      let busy = 0;
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        onOutput(name, value);
        const wait = pace();
        if (wait) {
          await wait;
          busy = 0;
          continue;
        }
        // A task writing fast in small pieces (4 KB at a time) would cost a read each: after a run of
        // them, let the rest of the event loop run once, and the pipe fill meanwhile. Not a timer:
        // Deno's shortest is ~2 ms, in which a 64 KB pipe is full and the task blocked (measured:
        // draining 200 MB took 50 MB/s that way, 210 MB/s this way).
        busy = value.byteLength < FULL_READ ? busy + 1 : 0;
        if (busy >= 8) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch {
      // The pipe broke or was cancelled: nothing more to read.
    }
  })();
  return { done, cancel: () => void reader.cancel().catch(() => {}) };
}

/** Reads to the end, unless a process that escaped every kill keeps a pipe open. */
async function drain(readers: Reader[]): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const all = Promise.all(readers.map((reader) => reader.done));
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), DRAIN_MS));
  if (await Promise.race([all, late]) === "late") {
    for (const reader of readers) reader.cancel();
    await all;
  }
  clearTimeout(timer);
}
