/**
 * What an agent holds: the tasks it runs, up to its slots; the work held until a slot frees; the
 * attempts it ran (so that one sent again is not run twice); and, while a slot is free, the process
 * started ahead for the next task.
 */
import { join } from "node:path";
import { SYSTEM_PATH } from "../exec/mod.ts";
import { type Assignment, attemptKey, type AttemptRef } from "../protocol/mod.ts";
import type { LoopOptions } from "./loop_options.ts";
import { TaskRun } from "./task_runner.ts";
import { TASK_LANG } from "./task_setup.ts";
import { WorkDirs } from "./work_dirs.ts";

/**
 * Attempts this agent ran, remembered (the latest ones, at most this many) so that one sent again is
 * never run twice: the tracker sends an attempt again when it cannot tell whether the first answer
 * arrived (a claim answered to a closed connection, a pooled claim across a leader change), and the
 * agent may have run it meanwhile. A retry of the task is a new attempt, which runs.
 */
const RAN_REMEMBERED = 10_000;

type TaskSlotsOptions = Pick<
  LoopOptions,
  | "identity"
  | "dataDir"
  | "slots"
  | "runtime"
  | "registry"
  | "reporter"
  | "clock"
  | "randomId"
  | "log"
  | "verifier"
  | "packs"
  | "artifacts"
  | "channels"
>;

export class TaskSlots {
  #o: TaskSlotsOptions;
  /** Whether the agent is stopping: it then starts nothing. */
  #stopping: () => boolean;
  #runs = new Map<string, TaskRun>();
  /** Work held beyond the slots (the tracker sends short tasks ahead): started as slots free. */
  #waiting: Assignment[] = [];
  /** RAN_REMEMBERED: attempt keys, oldest first (a Map keeps insertion order). */
  #ran = new Map<string, true>();
  #workDirs: WorkDirs;
  #randomId: () => string;
  /** The agent's environment, for `permissions.env`: read once, not copied for every task. */
  #env = Object.freeze(Deno.env.toObject());

  constructor(options: TaskSlotsOptions, stopping: () => boolean) {
    this.#o = options;
    this.#stopping = stopping;
    this.#workDirs = new WorkDirs(join(options.dataDir, "work"));
    this.#randomId = options.randomId ?? (() => crypto.randomUUID());
  }

  /** Assignments held here until a slot frees. */
  get waitingCount(): number {
    return this.#waiting.length;
  }

  /** Tasks running here now (from their start until their run is wholly over). */
  get runningCount(): number {
    return this.#runs.size;
  }

  /** The tracker no longer wants this attempt. */
  markStale(ref: AttemptRef): void {
    this.#runs.get(attemptKey(ref))?.markStale();
  }

  /** The tracker wants this attempt stopped: stopped if it runs, dropped if it waits. */
  stopAttempt(ref: AttemptRef): void {
    this.#runs.get(attemptKey(ref))?.stop();
    this.#waiting = this.#waiting.filter((a) => attemptKey(a) !== attemptKey(ref));
  }

  /** The attempts this agent holds: running, waiting for a slot, or with reports not yet delivered. */
  holding(): AttemptRef[] {
    const refs = new Map<string, AttemptRef>();
    for (const run of this.#runs.values()) refs.set(attemptKey(run.ref), run.ref);
    for (const a of this.#waiting) refs.set(attemptKey(a), { taskId: a.taskId, attempt: a.attempt });
    for (const ref of this.#o.reporter.pendingAttempts()) refs.set(attemptKey(ref), ref);
    return [...refs.values()];
  }

  /** Runs the assignment if a slot is free, else holds it until one frees; an attempt run here is not run again. */
  start(assignment: Assignment): void {
    const ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    if (
      this.#runs.has(attemptKey(ref)) || this.#waiting.some((a) => attemptKey(a) === attemptKey(ref)) ||
      this.#stopping()
    ) return;
    if (this.#ran.has(attemptKey(ref))) {
      this.#o.log(`task ${ref.taskId} attempt ${ref.attempt} was sent again after it ran here: not run twice`);
      return;
    }
    if (this.#runs.size >= this.#o.slots) {
      this.#waiting.push(assignment);
      return;
    }
    const { runtime } = this.#o;
    const run = new TaskRun(assignment, {
      exec: runtime.exec,
      workDirs: this.#workDirs,
      agentName: this.#o.identity.name,
      reporter: this.#o.reporter,
      registry: this.#o.registry,
      basePath: this.#env.PATH ?? SYSTEM_PATH,
      agentEnv: this.#env,
      sandbox: runtime.capabilities.sandbox,
      allowUnsandboxed: runtime.capabilities.unsandboxed,
      clock: this.#o.clock,
      randomId: this.#randomId,
      log: this.#o.log,
      verifier: this.#o.verifier ?? null,
      packs: this.#o.packs ?? null,
      artifacts: this.#o.artifacts ?? null,
      channels: this.#o.channels ?? null,
      processStarted: () => this.standbyAhead(),
    });
    this.#runs.set(attemptKey(ref), run);
    this.#ran.set(attemptKey(ref), true);
    if (this.#ran.size > RAN_REMEMBERED) this.#ran.delete(this.#ran.keys().next().value!);
    run.done.finally(() => {
      this.#runs.delete(attemptKey(ref));
      const next = this.#waiting.shift();
      if (next) this.start(next);
      else this.standbyAhead();
    });
  }

  /**
   * While a slot is free and nothing waits for one, the next task gets a process started ahead,
   * already in a cgroup (exec/standby.ts): once a task's process has started, and when a task ends
   * with none waiting. It starts while the next job is on its way (submit, placement, claim: a few
   * ms), and takes the cgroup join (the kernel's wait, 1.5 ms back to back, ~12 ms after a quiet spell)
   * and the switch to the task user off that task's start. A busy agent (every slot taken, or work
   * waiting) starts none: there it would only compete for the CPU with the tasks it would speed up.
   */
  standbyAhead(): void {
    if (this.#stopping() || this.#runs.size >= this.#o.slots || this.#waiting.length > 0) return;
    this.#o.runtime.exec.prepareStandby(TASK_LANG);
  }

  /** Each running task is handed back (`run.release`), with the reason. */
  releaseRuns(reason: string): void {
    for (const run of this.#runs.values()) run.release(reason);
  }

  /** Settles once every task running now has wholly ended. */
  allDone(): Promise<void[]> {
    return Promise.all([...this.#runs.values()].map((r) => r.done));
  }

  /** Work never started is forgotten, not handed back (the tracker refused the agent's credential). */
  dropWaiting(): void {
    this.#waiting = [];
  }

  /** Work never started goes back at once, without a result. */
  handBackWaiting(reason: string): void {
    for (const a of this.#waiting.splice(0)) {
      this.#o.reporter.enqueue({
        type: "released",
        taskId: a.taskId,
        attempt: a.attempt,
        at: this.#o.clock.now(),
        reason,
        how: "handed_back",
      });
    }
  }
}
