/** One attempt on this agent: its working directory, its process, its events, in that order. */
import { join } from "node:path";
import type { Execution } from "../exec/mod.ts";
import { startShell } from "../exec/mod.ts";
import type { Assignment, AttemptRef } from "../protocol/mod.ts";
import { OutputBuffer } from "./output_buffer.ts";
import type { Reporter } from "./reporter.ts";

export interface RunnerContext {
  workRoot: string;
  agentName: string;
  reporter: Reporter;
  basePath: string;
  log: (message: string) => void;
}

export class TaskRun {
  readonly ref: AttemptRef;
  readonly done: Promise<void>;
  #execution: Execution | null = null;
  #ending: "stop" | "release" | "stale" | null = null;
  #releaseReason = "";

  constructor(assignment: Assignment, context: RunnerContext) {
    this.ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    this.done = this.#run(assignment, context);
  }

  /** Cancel: stop the process; its result is reported. */
  stop(): void {
    this.#ending ??= "stop";
    this.#execution?.stop();
  }

  /** Give the attempt back (agent shutting down): stop the process and report no result. */
  release(reason: string): void {
    if (this.#ending === "stale") return;
    this.#ending = "release";
    this.#releaseReason = reason;
    this.#execution?.stop();
  }

  /** The tracker no longer wants this attempt: stop it and report nothing more. */
  markStale(): void {
    this.#ending = "stale";
    this.#execution?.stop();
  }

  async #run(a: Assignment, context: RunnerContext): Promise<void> {
    const { reporter } = context;
    const workDir = join(context.workRoot, `${a.taskId}-${a.attempt}`);
    const ref = this.ref;
    try {
      await Deno.mkdir(join(workDir, "tmp"), { recursive: true });
      reporter.enqueue({ type: "started", ...ref, at: Date.now() });
      const output = new OutputBuffer((chunks) => {
        if (this.#ending !== "stale") reporter.enqueue({ type: "output", ...ref, at: Date.now(), chunks });
      });
      const env: Record<string, string> = {
        PATH: context.basePath,
        HOME: workDir,
        TMPDIR: join(workDir, "tmp"),
        LANG: "C.UTF-8",
        ...a.env,
        FABRIC_JOB_ID: a.jobId,
        FABRIC_JOB_NAME: a.jobName,
        FABRIC_TASK_ID: a.taskId,
        FABRIC_TASK_NAME: a.name,
        FABRIC_TASK_INDEX: String(a.index),
        FABRIC_TASK_COUNT: String(a.count),
        FABRIC_ATTEMPT: String(a.attempt),
        FABRIC_AGENT: context.agentName,
      };
      const execution = await startShell({ run: a.run, shell: a.shell }, {
        cwd: workDir,
        env,
        timeoutMs: a.timeoutMs,
        graceMs: a.graceMs,
        onOutput: (stream, data) => output.push(stream, data),
      });
      this.#execution = execution;
      if (this.#ending) execution.stop();
      const finished = await execution.finished;
      output.close();
      if (this.#ending === "release") {
        reporter.enqueue({ type: "released", ...ref, at: Date.now(), reason: this.#releaseReason });
      } else if (this.#ending !== "stale") {
        reporter.enqueue({
          type: "finished",
          ...ref,
          at: Date.now(),
          result: finished.result,
          durationMs: finished.durationMs,
        });
      }
    } catch (error) {
      const message = (error as Error).message;
      context.log(`task ${a.taskId} attempt ${a.attempt} could not run: ${message}`);
      reporter.enqueue({
        type: "finished",
        ...ref,
        at: Date.now(),
        result: { kind: "failed_to_start", message },
        durationMs: 0,
      });
    } finally {
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    }
  }
}
