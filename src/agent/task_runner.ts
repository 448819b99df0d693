/**
 * One attempt on this agent: its directory, its files, its process (of whatever kind), its events, in that order
 * (what comes before its process is task_preparation.ts's).
 */
import { setImmediate } from "node:timers";
import { type Execution, type Finished, processStartTicksLater, reclaimTaskDir, TaskStopped } from "../exec/mod.ts";
import type { ArtifactRef, Assignment, AttemptRef } from "../protocol/mod.ts";
import { keepsArtifacts, uploadArtifacts } from "./artifacts.ts";
import { OutputBuffer } from "./output_buffer.ts";
import { maskAll, maskOutputFile } from "./secret_masker.ts";
import { readOutputFile } from "./task_setup.ts";
import type { TaskChannels } from "./task_channels.ts";
import { type TaskPaths, taskPaths } from "./work_dirs.ts";
import type { RunnerContext } from "./runner_context.ts";
import { CannotRun, prepare } from "./task_preparation.ts";

export type { RunnerContext } from "./runner_context.ts";

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
