/** One attempt on this agent: its directory, its files, its process (of whatever kind), its events, in that order. */
import { join } from "node:path";
import { setImmediate } from "node:timers";
import {
  type CgroupSupport,
  checkoutRepo,
  type Execution,
  type Finished,
  GitError,
  type ProcessSpec,
  processStartTicksLater,
  redactUrl,
  scriptCommand,
  shellCommand,
  startProcess,
} from "../exec/mod.ts";
import type { Assignment, AttemptRef, Stream } from "../protocol/mod.ts";
import { OutputBuffer } from "./output_buffer.ts";
import type { Reporter } from "./reporter.ts";
import type { RunRegistry } from "./run_registry.ts";
import { readOutputFile, stepsScript, taskEnv, writeScript, writeTaskFiles } from "./task_setup.ts";
import { type TaskPaths, taskPaths, type WorkDirs } from "./work_dirs.ts";

export interface RunnerContext {
  /** The agent's data directory: never visible to a sandboxed task. */
  dataDir: string;
  workDirs: WorkDirs;
  gitCacheDir: string;
  /** Git tasks may check out repositories on this machine (`--allow-local-git`). */
  allowLocalGit: boolean;
  agentName: string;
  reporter: Reporter;
  registry: RunRegistry;
  basePath: string;
  agentEnv: Record<string, string>;
  sandbox: boolean;
  allowUnsandboxed: boolean;
  cgroup: CgroupSupport | null;
  deno: string | null;
  log: (message: string) => void;
}

/** A task that cannot start here; its message is the task's failure reason. */
class CannotRun extends Error {}

export class TaskRun {
  readonly ref: AttemptRef;
  readonly done: Promise<void>;
  #execution: Execution | null = null;
  /** Ends what runs before the process (the checkout) when the attempt is stopped, released or stale. */
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
    const { reporter } = context;
    const ref = this.ref;
    const paths = taskPaths(context.workDirs.root, `${a.taskId}-${a.attempt}`);
    const sandboxed = bwrapped(a);
    const output = new OutputBuffer({
      emit: (chunks, force) =>
        this.#ending === "stale" || reporter.enqueue({ type: "output", ...ref, at: Date.now(), chunks }, force),
    });
    const say = (line: string) => output.push("stderr", new TextEncoder().encode(`[fabric] ${line}\n`));
    const started = performance.now();
    // The task's timeout covers what runs before its process (a checkout) as well.
    const deadline = a.timeoutMs === null ? null : started + a.timeoutMs;
    try {
      reporter.enqueue({ type: "started", ...ref, at: Date.now() });
      const preparing = { deadline, signal: this.#preparing.signal };
      const spec = await prepare(a, context, paths, preparing, say, (stream, data) => output.push(stream, data));
      if (this.#ending) {
        this.#report(context, { result: { kind: "cancelled" }, durationMs: 0, outputTruncated: false }, {});
        return;
      }
      const execution = startProcess(spec);
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
      const finished = await execution.finished;
      output.close();
      const file = finished.result.kind === "exited" && finished.result.code === 0
        ? await readOutputFile(paths.outputFile)
        : {};
      this.#report(context, finished, file);
    } catch (error) {
      const message = error instanceof CannotRun ? error.message : (error as Error).message;
      say(message);
      output.close();
      const durationMs = performance.now() - started;
      // A checkout stopped by the task's timeout or by a cancel ends the task as its process would.
      const stopped = error instanceof GitError && (error.kind === "cancelled" || error.kind === "timeout");
      if (stopped && (this.#ending || deadline !== null)) {
        const result = this.#ending ? { kind: "cancelled" as const } : { kind: "timed_out" as const };
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
      // Handed on only if nothing of this task can still be in it: a sandbox or a cgroup ended all of it
      // (a process group alone misses what left it with setsid).
      const contained = sandboxed || this.#execution?.cgroupName != null;
      await context.workDirs.release(paths, !sandboxed, { keep: contained });
    }
  }

  #report(
    context: RunnerContext,
    finished: Finished,
    file: { output?: string; outputError?: string },
  ): void {
    const ref = this.ref;
    if (this.#ending === "stale") return;
    if (this.#ending === "release") {
      context.reporter.enqueue({
        type: "released",
        ...ref,
        at: Date.now(),
        reason: this.#releaseReason,
        how: "handed_back",
      });
      return;
    }
    context.reporter.enqueue({
      type: "finished",
      ...ref,
      at: Date.now(),
      result: finished.result,
      durationMs: finished.durationMs,
      outputTruncated: finished.outputTruncated,
      ...file,
    });
  }
}

/** Everything before the process starts: files, checkout, command line, sandbox. */
async function prepare(
  a: Assignment,
  context: RunnerContext,
  paths: TaskPaths,
  preparing: { deadline: number | null; signal: AbortSignal },
  say: (line: string) => void,
  onOutput: (stream: Stream, data: Uint8Array) => void,
): Promise<ProcessSpec> {
  const inSandbox = bwrapped(a);
  if (inSandbox && !context.sandbox) {
    throw new CannotRun("this agent cannot sandbox tasks (bubblewrap does not work here)");
  }
  if (a.kind !== "script" && !a.sandbox && !context.allowUnsandboxed) {
    throw new CannotRun("the task opts out of the sandbox, which this agent does not allow (--allow-unsandboxed)");
  }
  if (a.memoryBytes !== null && !context.cgroup) throw new CannotRun("this agent cannot enforce memory limits");
  // A sandboxed task has a private /tmp; the others get one of their own here.
  context.workDirs.make(paths, !inSandbox);
  const extra = await writeTaskFiles(paths, a);
  const env = taskEnv(a, {
    paths,
    agentName: context.agentName,
    basePath: context.basePath,
    agentEnv: context.agentEnv,
    sandboxed: inSandbox,
    extra,
  });
  let command: string[];
  let cwd = paths.workDir;
  const extraReadPaths: string[] = [];
  if (a.kind === "script") {
    if (!context.deno) throw new CannotRun("this agent has no Deno runtime for script tasks");
    const scriptFile = await writeScript(paths, a);
    env.DENO_DIR = join(context.dataDir, "cache", "deno");
    env.DENO_NO_UPDATE_CHECK = "1";
    command = scriptCommand({
      denoPath: context.deno,
      scriptFile,
      workDir: paths.workDir,
      tmpDir: paths.tmpDir,
      permissions: a.permissions,
      envNames: Object.keys(env),
    });
  } else if (a.kind === "git") {
    const dest = join(paths.workDir, "src");
    say(`checking out ${redactUrl(a.git!.repo)} at ${a.git!.ref}`);
    const checkout = await checkoutRepo({
      cacheDir: context.gitCacheDir,
      source: a.git!,
      dest,
      log: (line) => say(line),
      deadline: preparing.deadline ?? undefined,
      signal: preparing.signal,
      allowLocal: context.allowLocalGit,
      protectedDirs: [context.dataDir],
    });
    say(`checked out ${checkout.commit}${checkout.fetched ? "" : " (from the local mirror)"}`);
    env.FABRIC_GIT_COMMIT = checkout.commit;
    extraReadPaths.push(...checkout.readPaths);
    cwd = checkout.dir;
    const script = a.steps ? stepsScript(a.steps) : a.run!;
    command = await shellCommand({ run: script, shell: a.shell }, paths.metaDir);
  } else {
    command = await shellCommand({ run: a.run!, shell: a.shell }, paths.metaDir);
  }
  return {
    command,
    cwd,
    env,
    timeoutMs: preparing.deadline === null ? null : Math.max(0, preparing.deadline - performance.now()),
    graceMs: a.graceMs,
    onOutput,
    paceOutput: () => context.reporter.paceOutput(),
    sandbox: inSandbox
      ? { workDir: paths.workDir, cwd, permissions: a.permissions, hide: [context.dataDir], extraReadPaths }
      : undefined,
    // A sandbox's PID namespace already ends everything a task starts; a cgroup adds a memory limit,
    // or, for a task on the host, keeps track of everything it starts (setsid or not).
    cgroup: a.memoryBytes !== null || !inSandbox ? context.cgroup : null,
    cgroupName: a.memoryBytes === null ? undefined : `${a.taskId}-${a.attempt}-${crypto.randomUUID().slice(0, 8)}`,
    memoryBytes: a.memoryBytes,
    maxOutputBytes: a.maxOutputBytes,
  };
}

/** Shell and git tasks run under bubblewrap unless they opt out; scripts are confined by Deno's flags. */
function bwrapped(a: Assignment): boolean {
  return a.kind !== "script" && a.sandbox;
}
