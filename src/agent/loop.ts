/**
 * A joined agent at work: heartbeats, one long-poll claim for work and stop orders, and the reporter.
 * New work is claimed only once the reports a previous run left behind are delivered. Stopping drains:
 * no new work, running tasks get a grace period, then they are handed back and the agent leaves.
 */
import { join } from "node:path";
import type { FabricClient } from "../client/mod.ts";
import type { PackCache } from "./pack_cache.ts";
import type { ArtifactClient } from "./artifacts.ts";
import type { ChannelClient } from "./channel_socket.ts";
import { type ExecRuntime, SYSTEM_PATH } from "../exec/mod.ts";
import {
  type Assignment,
  attemptKey,
  type AttemptRef,
  type Capabilities,
  type ClaimResponse,
  type Clock,
  FabricError,
  retry,
  type RetryOptions,
  type RetryPolicy,
  sleep,
  type TimerId,
} from "../protocol/mod.ts";
import { type AgentIdentity, rejoinHint } from "./credential.ts";
import type { JobVerifier } from "./job_verifier.ts";
import type { Journal } from "./journal.ts";
import { sampleLoad } from "./load.ts";
import { clearOwnDrain, markOwnDrain } from "./own_drain.ts";
import { Reporter } from "./reporter.ts";
import type { RunRegistry } from "./run_registry.ts";
import { TaskRun } from "./task_runner.ts";
import { TASK_LANG } from "./task_setup.ts";
import { WorkDirs } from "./work_dirs.ts";

export interface AgentHandle {
  readonly agentId: string;
  readonly name: string;
  /** Settles when the agent has stopped; rejects if it stopped on an error. */
  readonly done: Promise<void>;
  /** Drain and leave; a second call hands running tasks back at once. */
  stop(): Promise<void>;
}

export interface Runtime {
  capabilities: Capabilities;
  /** What the agent keeps for running its tasks; the loop closes it when the agent stops. */
  exec: ExecRuntime;
}

export interface LoopOptions {
  client: Pick<FabricClient, "claim" | "heartbeat" | "selfDrain" | "leave" | "close">;
  identity: AgentIdentity;
  dataDir: string;
  slots: number;
  heartbeatMs: number;
  runtime: Runtime;
  journal: Journal;
  registry: RunRegistry;
  reporter: Reporter;
  stopGraceMs: number;
  clock: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
  /** Unique ids (for a task's cgroup); random UUIDs by default. */
  randomId?: () => string;
  log: (message: string) => void;
  /** `--verify-key`: tasks are checked against their signed job before they run. */
  verifier?: JobVerifier | null;
  /** Where jobs' `files:` are fetched (none: a task with files fails to start). */
  packs?: PackCache | null;
  /** Where tasks' artifacts go (none: they are not kept). */
  artifacts?: ArtifactClient | null;
  /** Where tasks' channel calls go (none: a job that grants channels cannot run here). */
  channels?: ChannelClient | null;
}

const CLAIM_WAIT_MS = 25_000;
/** After the drain deadline, how long the tracker's stop orders (and the kills they cause) may take. */
const HAND_BACK_MS = 15_000;
/** Waits between claims while the tracker cannot be reached. */
const CLAIM_RETRY: RetryPolicy = { initialMs: 100, maxMs: 2000 };
/**
 * Attempts this agent ran, remembered (the latest ones, at most this many) so that one sent again is
 * never run twice: the tracker sends an attempt again when it cannot tell whether the first answer
 * arrived (a claim answered to a closed connection, a pooled claim across a leader change), and the
 * agent may have run it meanwhile. A retry of the task is a new attempt, which runs.
 */
const RAN_REMEMBERED = 10_000;

export class AgentLoop {
  #o: LoopOptions;
  #runs = new Map<string, TaskRun>();
  /** Work held beyond the slots (the tracker sends short tasks ahead): started as slots free. */
  #waiting: Assignment[] = [];
  /** RAN_REMEMBERED: attempt keys, oldest first (a Map keeps insertion order). */
  #ran = new Map<string, true>();
  #stopping = false;
  #claimAbort = new AbortController();
  #heartbeatTimer: TimerId | undefined;
  #heartbeats = true;
  #draining = false;
  #fatal: ((error: Error) => void) | null = null;
  #stopped: Promise<void> | null = null;
  #workDirs: WorkDirs;
  #randomId: () => string;
  /** The agent's environment, for `permissions.env`: read once, not copied for every task. */
  #env = Object.freeze(Deno.env.toObject());

  constructor(options: LoopOptions) {
    this.#o = options;
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

  /** Work that came another way than the claim (with a report's answer). */
  take(assignments: Assignment[]): void {
    for (const assignment of assignments) this.#start(assignment);
  }

  /** The tracker no longer wants this attempt. */
  markStale(ref: AttemptRef): void {
    this.#runs.get(attemptKey(ref))?.markStale();
  }

  start(): AgentHandle {
    const reporterDone = this.#o.reporter.run();
    const fatal = new Promise<never>((_, reject) => (this.#fatal = reject));
    this.#heartbeat();
    const claimDone = this.#claimAfterBacklog();
    this.#standbyAhead();
    const done = Promise.race([fatal, Promise.all([claimDone, reporterDone]).then(() => {})]).finally(async () => {
      this.#heartbeats = false;
      this.#o.clock.clearTimeout(this.#heartbeatTimer);
      this.#o.journal.close();
      this.#o.client.close();
      await this.#o.runtime.exec.close();
    });
    done.catch(() => {});
    return { agentId: this.#o.identity.agentId, name: this.#o.identity.name, done, stop: () => this.#stop() };
  }

  /** A restarted agent first reports what it had; only then does it take new work. */
  async #claimAfterBacklog(): Promise<void> {
    if (this.#o.reporter.size > 0) {
      this.#o.log(`delivering ${this.#o.reporter.size} report(s) left from the last run before taking work`);
      while (!this.#stopping && !(await this.#o.reporter.drained(1000)));
    }
    await this.#claimLoop();
  }

  #holding(): AttemptRef[] {
    const refs = new Map<string, AttemptRef>();
    for (const run of this.#runs.values()) refs.set(attemptKey(run.ref), run.ref);
    for (const a of this.#waiting) refs.set(attemptKey(a), { taskId: a.taskId, attempt: a.attempt });
    for (const ref of this.#o.reporter.pendingAttempts()) refs.set(attemptKey(ref), ref);
    return [...refs.values()];
  }

  async #claimLoop(): Promise<void> {
    const signal = this.#claimAbort.signal;
    let failing = false;
    const claim = () => this.#o.client.claim({ holding: this.#holding(), waitMs: CLAIM_WAIT_MS }, signal);
    const retrying: RetryOptions = {
      policy: CLAIM_RETRY,
      clock: this.#o.clock,
      random: this.#o.random,
      signal,
      retryable: (error) => !this.#isFatal(error),
      onRetry: (error) => {
        if (!failing) this.#o.log(`cannot claim work: ${(error as Error).message}; retrying`);
        failing = true;
      },
    };
    while (!signal.aborted) {
      let response: ClaimResponse;
      try {
        response = await retry(claim, retrying);
      } catch {
        return; // stopped, or the credential was refused (#isFatal has stopped the agent)
      }
      if (failing) this.#o.log("the tracker is back");
      failing = false;
      for (const ref of response.stop) {
        this.#runs.get(attemptKey(ref))?.stop();
        this.#waiting = this.#waiting.filter((a) => attemptKey(a) !== attemptKey(ref));
      }
      for (const assignment of response.assignments) this.#start(assignment);
    }
  }

  #start(assignment: Assignment): void {
    const ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    if (
      this.#runs.has(attemptKey(ref)) || this.#waiting.some((a) => attemptKey(a) === attemptKey(ref)) || this.#stopping
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
      processStarted: () => this.#standbyAhead(),
    });
    this.#runs.set(attemptKey(ref), run);
    this.#ran.set(attemptKey(ref), true);
    if (this.#ran.size > RAN_REMEMBERED) this.#ran.delete(this.#ran.keys().next().value!);
    run.done.finally(() => {
      this.#runs.delete(attemptKey(ref));
      const next = this.#waiting.shift();
      if (next) this.#start(next);
      else this.#standbyAhead();
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
  #standbyAhead(): void {
    if (this.#stopping || this.#runs.size >= this.#o.slots || this.#waiting.length > 0) return;
    this.#o.runtime.exec.prepareStandby(TASK_LANG);
  }

  #heartbeat(): void {
    if (!this.#heartbeats) return;
    const load = sampleLoad(this.#runs.size, this.#o.slots);
    this.#o.client.heartbeat({ load }).then(
      (response) => {
        this.#o.heartbeatMs = response.heartbeatMs;
        const draining = response.state === "draining";
        if (draining && !this.#draining && !this.#stopping) {
          const when = response.drainDeadline ? new Date(response.drainDeadline).toISOString() : "the deadline";
          this.#o.log(`draining: no new work; running tasks are handed back at ${when}`);
        } else if (!draining && this.#draining && !this.#stopping) {
          this.#o.log("resumed: taking work again");
        }
        this.#draining = draining;
      },
      // An unreachable tracker is reported by the claim loop (one line, not one per heartbeat).
      (error) => this.#isFatal(error),
    ).finally(() => {
      if (this.#heartbeats) {
        this.#heartbeatTimer = this.#o.clock.setTimeout(() => this.#heartbeat(), this.#o.heartbeatMs);
      }
    });
  }

  /** A refused credential cannot get better by retrying: stop with the reason. */
  #isFatal(error: unknown): boolean {
    if (error instanceof FabricError && (error.code === "unauthorized" || error.code === "forbidden")) {
      this.#stopping = true;
      this.#heartbeats = false;
      this.#claimAbort.abort();
      this.#waiting = [];
      for (const run of this.#runs.values()) run.release("the agent's credential was refused");
      this.#o.reporter.stop();
      this.#fatal?.(
        new FabricError(
          "unauthorized",
          `The tracker refused this agent's credential (${error.message}). ${rejoinHint(this.#o.dataDir)}`,
        ),
      );
      return true;
    }
    return false;
  }

  /** Work never started goes back at once, without a result. */
  #handBackWaiting(reason: string): void {
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

  #stop(): Promise<void> {
    if (this.#stopped) {
      // Asked again while draining: hand everything back now.
      for (const run of this.#runs.values()) run.release("the agent was told to stop at once");
      return this.#stopped;
    }
    this.#stopped = (async () => {
      this.#stopping = true;
      this.#handBackWaiting("the agent is stopping");
      const { clock } = this.#o;
      const grace = this.#o.stopGraceMs;
      let deadline = clock.now() + grace;
      if (this.#runs.size > 0) {
        try {
          await markOwnDrain(this.#o.dataDir);
          deadline = (await this.#o.client.selfDrain(grace)).deadline;
          this.#o.log(
            `stopping: ${this.#runs.size} running task(s) may finish until ${new Date(deadline).toISOString()}`,
          );
        } catch (error) {
          this.#o.log(`stopping: the tracker cannot be told (${(error as Error).message}); draining here`);
        }
        // The tracker hands back what is still running at the deadline and tells us to stop it.
        while (this.#runs.size > 0 && clock.now() < deadline + HAND_BACK_MS) {
          await Promise.race([Promise.all([...this.#runs.values()].map((r) => r.done)), sleep(clock, 200)]);
          if (clock.now() >= deadline) { for (const run of this.#runs.values()) run.release("the agent is stopping"); }
        }
      }
      await Promise.all([...this.#runs.values()].map((r) => r.done));
      this.#claimAbort.abort();
      if (!(await this.#o.reporter.drained(10_000))) {
        this.#o.log(
          `stopping with ${this.#o.reporter.size} undelivered report(s), kept in the journal for the next start`,
        );
      }
      this.#heartbeats = false;
      clock.clearTimeout(this.#heartbeatTimer);
      await this.#o.client.leave().then(
        () => clearOwnDrain(this.#o.dataDir),
        (error) => this.#o.log(`could not tell the tracker it leaves: ${error.message}`),
      );
      this.#o.reporter.stop();
    })();
    return this.#stopped;
  }
}
