/**
 * Everything of an attempt before its process starts (task_runner.ts): the checks, its directory, the
 * files and artifacts fetched into it, its environment and channels, and the spec its process starts with.
 */
import { driverFor, handOverTaskDir, type ProcessSpec, type TaskDriver, TaskStopped } from "../exec/mod.ts";
import { type AssignmentOf, type BlobRef, MAX_PACK_ENTRIES, type Stream, type TaskKind } from "../protocol/mod.ts";
import { unpackPack } from "./unpack.ts";
import { placeInputs } from "./inputs.ts";
import { taskEnv, writeTaskFiles } from "./task_setup.ts";
import { openTaskChannels, type TaskChannels } from "./task_channels.ts";
import type { TaskPaths } from "./work_dirs.ts";
import type { RunnerContext } from "./runner_context.ts";

/** A task that cannot start here; its message is the task's failure reason. */
export class CannotRun extends Error {}

/**
 * Something fetched into the task's directory before it starts (its job's files, the artifacts it
 * needs): the task's timeout covers it, as it covers a checkout; a failure fails the task to start.
 */
async function fetchBefore(
  what: string,
  into: Into,
  preparing: { deadline: number | null; signal: AbortSignal },
  fetch: (stop: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const { deadline, signal } = preparing;
  const stop = deadline === null
    ? signal
    : AbortSignal.any([signal, AbortSignal.timeout(Math.max(0, deadline - performance.now()))]);
  try {
    await fetch(stop);
  } catch (error) {
    if (stop.aborted) throw new TaskStopped(signal.aborted ? "cancelled" : "timed_out", error as Error);
    throw new CannotRun(`${what} cannot be put in ${into.what}: ${(error as Error).message}`);
  }
}

/**
 * Where what is fetched before a task goes: its directory, or a git task's checkout (which must start
 * empty, so they come once it is made, and where its steps run).
 */
interface Into {
  dir: string;
  what: string;
}

function intoOf(kind: TaskKind, paths: TaskPaths, cwd: string): Into {
  return kind === "git"
    ? { dir: cwd, what: "the checkout (a git task gets them among its repository's files: `files: []` gives it none)" }
    : { dir: paths.workDir, what: "the task's directory" };
}

/** The job's files (`files:`) into the task's directory, fetched once per job; a bad pack fails the task. */
function unpackFiles(
  pack: BlobRef,
  context: RunnerContext,
  into: Into,
  preparing: { deadline: number | null; signal: AbortSignal },
): Promise<void> {
  const packs = context.packs;
  if (!packs) throw new CannotRun("this agent cannot fetch a job's files");
  // Its files hold fewer bytes than the pack (which adds their headers).
  const limits = { maxEntries: MAX_PACK_ENTRIES, maxBytes: pack.size };
  return fetchBefore(
    "the job's files",
    into,
    preparing,
    (stop) => packs.with(pack, (file) => unpackPack(file, into.dir, limits), stop),
  );
}

/** The artifacts of the tasks it needs (`needs: [{task, artifacts: true}]`) into its directory (inputs.ts). */
function fetchInputs(
  inputs: unknown,
  context: RunnerContext,
  into: Into,
  preparing: { deadline: number | null; signal: AbortSignal },
  say: (line: string) => void,
): Promise<void> {
  const packs = context.packs;
  if (!packs) throw new CannotRun("this agent cannot fetch artifacts");
  return fetchBefore(
    "the artifacts it needs",
    into,
    preparing,
    (stop) => placeInputs(inputs, into.dir, packs, { signal: stop, say }),
  );
}

/**
 * Everything before the process starts: what every kind shares (the checks, the task's directory, its
 * files and environment, its sandbox and limits) here, the rest by the kind's driver.
 */
export async function prepare<K extends TaskKind>(
  a: AssignmentOf<K>,
  context: RunnerContext,
  paths: TaskPaths,
  preparing: { deadline: number | null; signal: AbortSignal; opened: { channels: TaskChannels | null } },
  say: (line: string) => void,
  onOutput: (stream: Stream, data: Uint8Array) => void,
): Promise<{ driver: TaskDriver<K>; spec: ProcessSpec }> {
  const sandboxed = a.sandbox;
  if (sandboxed && !context.sandbox) {
    throw new CannotRun("this agent cannot sandbox tasks (bubblewrap does not work here)");
  }
  if (!sandboxed && !context.allowUnsandboxed) {
    throw new CannotRun("the task opts out of the sandbox, which this agent does not allow (--allow-unsandboxed)");
  }
  const { exec } = context;
  if (a.memoryBytes !== null && !exec.cgroup) throw new CannotRun("this agent cannot enforce memory limits");
  const driver = driverFor(a.kind);
  // A sandboxed task has a private /tmp; the others get one of their own here.
  context.workDirs.make(paths, !sandboxed);
  const fetchInto = async (cwd: string) => {
    const into = intoOf(a.kind, paths, cwd);
    if (a.pack) await unpackFiles(a.pack, context, into, preparing);
    if (a.inputs) await fetchInputs(a.inputs, context, into, preparing, say);
  };
  if (a.kind !== "git") await fetchInto(paths.workDir);
  const extra = await writeTaskFiles(paths, a);
  const env = taskEnv(a, {
    paths,
    agentName: context.agentName,
    basePath: context.basePath,
    agentEnv: context.agentEnv,
    sandboxed,
    extra,
  });
  const launch = await driver.prepare(a, { host: exec, dirs: paths, sandboxed, env, say, ...preparing });
  if (launch.env) Object.assign(env, launch.env);
  const cwd = launch.cwd ?? paths.workDir;
  if (a.kind === "git") await fetchInto(cwd);
  if (exec.taskUser) await handOverTaskDir(paths.workDir, exec.taskUser);
  const readPaths = [...launch.readPaths ?? []];
  if (a.permissions.channels.length > 0) {
    if (!context.channels) throw new CannotRun("this agent has no tracker to reach the job's channels through");
    try {
      const channels = openTaskChannels({
        metaDir: paths.metaDir,
        task: { taskId: a.taskId, attempt: a.attempt },
        client: context.channels,
        basePath: env.PATH ?? context.basePath,
      });
      preparing.opened.channels = channels;
      Object.assign(env, channels.env);
      readPaths.push(...channels.readPaths);
    } catch (error) {
      throw new CannotRun(`the task's channels cannot be opened: ${(error as Error).message}`);
    }
  }
  const spec: ProcessSpec = {
    command: launch.command,
    cwd,
    env,
    // What is left of the task's timeout once it is prepared.
    timeoutMs: preparing.deadline === null ? null : Math.max(0, preparing.deadline - performance.now()),
    graceMs: a.graceMs,
    onOutput,
    paceOutput: () => context.reporter.paceOutput(),
    sandbox: sandboxed
      ? {
        workDir: paths.workDir,
        cwd,
        permissions: a.permissions,
        hide: [exec.dataDir],
        extraReadPaths: readPaths,
        tmpBytes: a.diskBytes ?? undefined,
      }
      : undefined,
    // A cgroup limits the task's processes (and its memory), and for a task on the host keeps track of
    // everything it starts (setsid or not); a sandbox's PID namespace ends what it starts anyway.
    cgroup: exec.cgroup,
    user: exec.taskUser,
    pids: a.pids,
    disk: a.diskBytes === null ? null : { dir: paths.workDir, bytes: a.diskBytes },
    cgroupName: a.memoryBytes === null ? undefined : `${a.taskId}-${a.attempt}-${context.randomId().slice(0, 8)}`,
    memoryBytes: a.memoryBytes,
    maxOutputBytes: a.maxOutputBytes,
    secretEnv: Object.keys(a.secrets ?? {}).length > 0,
  };
  return { driver, spec };
}
