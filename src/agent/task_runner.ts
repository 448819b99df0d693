/** One attempt on this agent: its directory, its files, its process (of whatever kind), its events, in that order. */
import { setImmediate } from "node:timers";
import {
  driverFor,
  type ExecRuntime,
  type Execution,
  type Finished,
  handOverTaskDir,
  type ProcessSpec,
  processStartTicksLater,
  reclaimTaskDir,
  type TaskDriver,
  TaskStopped,
} from "../exec/mod.ts";
import {
  type ArtifactRef,
  type Assignment,
  type AssignmentOf,
  type AttemptRef,
  type BlobRef,
  type Clock,
  MAX_PACK_ENTRIES,
  type Stream,
  type TaskKind,
} from "../protocol/mod.ts";
import type { PackCache } from "./pack_cache.ts";
import { type ArtifactClient, keepsArtifacts, uploadArtifacts } from "./artifacts.ts";
import { unpackPack } from "./unpack.ts";
import { placeInputs } from "./inputs.ts";
import { OutputBuffer } from "./output_buffer.ts";
import { maskAll, maskOutputFile } from "./secret_masker.ts";
import type { JobVerifier } from "./job_verifier.ts";
import type { Reporter } from "./reporter.ts";
import type { RunRegistry } from "./run_registry.ts";
import { readOutputFile, taskEnv, writeTaskFiles } from "./task_setup.ts";
import type { ChannelClient } from "./channel_socket.ts";
import { openTaskChannels, type TaskChannels } from "./task_channels.ts";
import { type TaskPaths, taskPaths, type WorkDirs } from "./work_dirs.ts";

export interface RunnerContext {
  /**
   * What the agent keeps for running tasks: its data directory (never visible to a sandboxed task), its
   * task user, its cgroups and standby.
   */
  exec: ExecRuntime;
  workDirs: WorkDirs;
  agentName: string;
  reporter: Reporter;
  registry: RunRegistry;
  basePath: string;
  agentEnv: Record<string, string>;
  sandbox: boolean;
  allowUnsandboxed: boolean;
  clock: Clock;
  /** A unique id (a task's cgroup is named with one). */
  randomId: () => string;
  log: (message: string) => void;
  /** `--verify-key`: runs only what the signed job says. */
  verifier: JobVerifier | null;
  /** Where the packs of jobs' `files:` are fetched and kept; null: a task with files cannot run here. */
  packs: PackCache | null;
  /** Where tasks' artifacts are uploaded; null: none are kept. */
  artifacts: ArtifactClient | null;
  /** Where a task's channel calls go (task_channels.ts); null: a job that grants channels cannot run here. */
  channels: ChannelClient | null;
  /** Called once the task's process has started (the agent then starts one ahead for its next task). */
  processStarted?: () => void;
}

/** A task that cannot start here; its message is the task's failure reason. */
class CannotRun extends Error {}

export class TaskRun {
  readonly ref: AttemptRef;
  readonly done: Promise<void>;
  #execution: Execution | null = null;
  /**
   * Ends what runs before the process (the checkout) and after it (the artifacts' upload) when the
   * attempt is stopped, released or stale.
   */
  #preparing = new AbortController();
  #ending: "stop" | "release" | "stale" | null = null;
  #releaseReason = "";

  constructor(assignment: Assignment, context: RunnerContext) {
    this.ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    this.done = this.#run(assignment, context);
  }

  /** Cancel: stop the process; its result is reported. */
  stop(): void {
    this.#ending ??= "stop";
    this.#preparing.abort();
    this.#execution?.stop();
  }

  /** Give the attempt back (agent shutting down): stop the process and report no result. */
  release(reason: string): void {
    if (this.#ending === "stale") return;
    this.#ending = "release";
    this.#releaseReason = reason;
    this.#preparing.abort();
    this.#execution?.stop();
  }

  /** The tracker no longer wants this attempt: stop it and report nothing more. */
  markStale(): void {
    this.#ending = "stale";
    this.#preparing.abort();
    this.#execution?.stop();
  }

  async #run(a: Assignment, context: RunnerContext): Promise<void> {
    // Checked before anything of the task touches this machine: even its id names a directory.
    const refusal = context.verifier ? await context.verifier.refusal(a) : null;
    if (refusal !== null) {
      context.log(`refused task ${JSON.stringify(a.taskId)} attempt ${a.attempt}: ${refusal}`);
      const result = { kind: "failed_to_start" as const, message: refusal };
      return this.#report(context, { result, durationMs: 0, outputTruncated: false }, {});
    }
    const { reporter, clock } = context;
    const ref = this.ref;
    const paths = taskPaths(context.workDirs.root, `${a.taskId}-${a.attempt}`);
    const sandboxed = a.sandbox;
    const secrets = Object.values(a.secrets ?? {});
    const output = new OutputBuffer(
      {
        emit: (chunks, force) =>
          this.#ending === "stale" || reporter.enqueue({ type: "output", ...ref, at: clock.now(), chunks }, force),
      },
      clock,
      secrets,
    );
    const say = (line: string) => output.push("stderr", new TextEncoder().encode(`[fabric] ${line}\n`));
    // Monotonic, as exec's deadlines (a checkout's) are; the events' times come from the clock.
    const started = performance.now();
    // The task's timeout covers what runs before its process (a checkout) as well.
    const deadline = a.timeoutMs === null ? null : started + a.timeoutMs;
    const opened: { channels: TaskChannels | null } = { channels: null };
    try {
      reporter.enqueue({ type: "started", ...ref, at: clock.now() });
      const preparing = { deadline, signal: this.#preparing.signal };
      const { driver, spec } = await prepare(
        a,
        context,
        paths,
        { ...preparing, opened },
        say,
        (stream, data) => output.push(stream, data),
      );
      if (this.#ending) {
        this.#report(context, { result: { kind: "cancelled" }, durationMs: 0, outputTruncated: false }, {});
        return;
      }
      const execution = driver.start(spec, context.exec);
      this.#execution = execution;
      if (execution.pid > 0) {
        const { pid, cgroupName } = execution;
        context.registry.record(ref, { pid, startTicks: null, cgroupName });
        // A task in a cgroup is ended through it after a crash; only a bare pid needs its start time
        // to be told from a later process that got the same pid. Read off this thread: the process
        // may still be in its exec, which the read would wait for.
        if (!cgroupName) {
          processStartTicksLater(pid).then((startTicks) =>
            startTicks !== null && context.registry.update(ref, { pid, startTicks, cgroupName })
          );
        }
      }
      if (this.#ending) execution.stop();
      else if (execution.pid > 0) context.processStarted?.();
      const finished = await execution.finished;
      const artifacts = await this.#artifacts(a, context, paths, finished, say);
      output.close();
      // Read whatever the process's end: a failed task keeps its JSON too (one that cannot be taken
      // fails only a task that succeeded).
      const file = finished.result.kind !== "failed_to_start"
        ? maskOutputFile(readOutputFile(context.workDirs.root, paths), secrets)
        : {};
      const result = finished.result.kind === "failed_to_start"
        ? { ...finished.result, message: maskAll(finished.result.message, secrets) }
        : finished.result;
      this.#report(context, { ...finished, result }, { ...file, ...(artifacts ? { artifacts } : {}) });
    } catch (error) {
      const message = maskAll(error instanceof CannotRun ? error.message : (error as Error).message, secrets);
      say(message);
      output.close();
      const durationMs = performance.now() - started;
      // What ran before the process (a checkout), stopped by a cancel or the task's timeout, ends the
      // task as its process would.
      if (error instanceof TaskStopped) {
        const result = this.#ending ? { kind: "cancelled" as const } : { kind: error.why };
        this.#report(context, { result, durationMs, outputTruncated: false }, {});
        return;
      }
      context.log(`task ${a.taskId} attempt ${a.attempt} could not run: ${message}`);
      this.#report(
        context,
        { result: { kind: "failed_to_start", message }, durationMs, outputTruncated: false },
        {},
      );
    } finally {
      // An idle agent's report goes out before the directory is tidied: one turn of the event loop, in
      // which the reporter sends (a busy agent's reports wait for others anyway, and its next task for this).
      if (!context.reporter.gathering) await new Promise((resolve) => setImmediate(resolve));
      context.registry.remove(ref);
      // Its channel calls end with it (the tracker refuses them anyway once it learns the attempt ended).
      await opened.channels?.close();
      // The agent's again before it looks into it or keeps it: the task user may not change it under it.
      if (context.exec.taskUser) reclaimTaskDir(paths.workDir);
      // Handed on only if nothing of this task can still be in it: a sandbox or a cgroup ended all of it
      // (a process group alone misses what left it with setsid).
      const contained = sandboxed || this.#execution?.cgroupName != null;
      await context.workDirs.release(paths, !sandboxed, { keep: contained });
    }
  }

  /**
   * What `artifacts:` keeps of what the ended task left, uploaded before the attempt is reported ended
   * (artifacts.ts); none for an attempt given back or no longer wanted.
   */
  async #artifacts(
    a: Assignment,
    context: RunnerContext,
    paths: TaskPaths,
    finished: Finished,
    say: (line: string) => void,
  ): Promise<ArtifactRef[] | null> {
    if (!a.artifacts || this.#ending === "stale" || this.#ending === "release") return null;
    const succeeded = finished.result.kind === "exited" && finished.result.code === 0;
    if (!keepsArtifacts(a.artifacts, succeeded)) return null;
    if (!context.artifacts) {
      say("artifacts are not kept: this agent has no tracker to send them to");
      return null;
    }
    return await uploadArtifacts({
      root: context.workDirs.root,
      dir: paths.workDir,
      skip: a.sandbox ? [".fabric"] : [".fabric", "tmp"],
      rule: a.artifacts,
      client: context.artifacts,
      say,
      // A cancel, or the agent stopping, ends the uploads: what is stored whole is reported.
      signal: this.#preparing.signal,
    });
  }

  #report(
    context: RunnerContext,
    finished: Finished,
    file: { output?: string; outputError?: string; artifacts?: ArtifactRef[] },
  ): void {
    const ref = this.ref;
    if (this.#ending === "stale") return;
    if (this.#ending === "release") {
      context.reporter.enqueue({
        type: "released",
        ...ref,
        at: context.clock.now(),
        reason: this.#releaseReason,
        how: "handed_back",
      });
      return;
    }
    context.reporter.enqueue({
      type: "finished",
      ...ref,
      at: context.clock.now(),
      result: finished.result,
      durationMs: finished.durationMs,
      outputTruncated: finished.outputTruncated,
      ...file,
    });
  }
}

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
async function prepare<K extends TaskKind>(
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
