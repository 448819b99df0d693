/**
 * A joined agent at work: heartbeats, one long-poll claim for work and stop orders, and the reporter.
 * New work is claimed only once the reports a previous run left behind are delivered. Stopping drains:
 * no new work, running tasks get a grace period, then they are handed back and the agent leaves.
 */
import {
  type Assignment,
  type AttemptRef,
  type ClaimResponse,
  FabricError,
  retry,
  type RetryOptions,
  type RetryPolicy,
  sleep,
} from "../protocol/mod.ts";
import { rejoinHint } from "./credential.ts";
import { Heartbeats } from "./heartbeats.ts";
import type { LoopOptions } from "./loop_options.ts";
import { clearOwnDrain, markOwnDrain } from "./own_drain.ts";
import { TaskSlots } from "./task_slots.ts";

export interface AgentHandle {
  readonly agentId: string;
  readonly name: string;
  /** Settles when the agent has stopped; rejects if it stopped on an error. */
  readonly done: Promise<void>;
  /** Drain and leave; a second call hands running tasks back at once. */
  stop(): Promise<void>;
}

const CLAIM_WAIT_MS = 25_000;
/** After the drain deadline, how long the tracker's stop orders (and the kills they cause) may take. */
const HAND_BACK_MS = 15_000;
/** Waits between claims while the tracker cannot be reached. */
const CLAIM_RETRY: RetryPolicy = { initialMs: 100, maxMs: 2000 };

export class AgentLoop {
  #o: LoopOptions;
  /** What the agent holds: its tasks, running or waiting for a slot. */
  #tasks: TaskSlots;
  #heartbeats: Heartbeats;
  #stopping = false;
  #claimAbort = new AbortController();
  #fatal: ((error: Error) => void) | null = null;
  #stopped: Promise<void> | null = null;

  constructor(options: LoopOptions) {
    this.#o = options;
    this.#tasks = new TaskSlots(options, () => this.#stopping);
    this.#heartbeats = new Heartbeats(options, {
      running: () => this.#tasks.runningCount,
      stopping: () => this.#stopping,
      isFatal: (error) => this.#isFatal(error),
    });
  }

  /** Assignments held here until a slot frees. */
  get waitingCount(): number {
    return this.#tasks.waitingCount;
  }

  /** Tasks running here now (from their start until their run is wholly over). */
  get runningCount(): number {
    return this.#tasks.runningCount;
  }

  /** Work that came another way than the claim (with a report's answer). */
  take(assignments: Assignment[]): void {
    for (const assignment of assignments) this.#tasks.start(assignment);
  }

  /** The tracker no longer wants this attempt. */
  markStale(ref: AttemptRef): void {
    this.#tasks.markStale(ref);
  }

  start(): AgentHandle {
    const reporterDone = this.#o.reporter.run();
    const fatal = new Promise<never>((_, reject) => (this.#fatal = reject));
    this.#heartbeats.start();
    const claimDone = this.#claimAfterBacklog();
    this.#tasks.standbyAhead();
    const done = Promise.race([fatal, Promise.all([claimDone, reporterDone]).then(() => {})]).finally(async () => {
      this.#heartbeats.stop();
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

  async #claimLoop(): Promise<void> {
    const signal = this.#claimAbort.signal;
    let failing = false;
    const claim = () => this.#o.client.claim({ holding: this.#tasks.holding(), waitMs: CLAIM_WAIT_MS }, signal);
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
      for (const ref of response.stop) this.#tasks.stopAttempt(ref);
      for (const assignment of response.assignments) this.#tasks.start(assignment);
    }
  }

  /** A refused credential cannot get better by retrying: stop with the reason. */
  #isFatal(error: unknown): boolean {
    if (error instanceof FabricError && (error.code === "unauthorized" || error.code === "forbidden")) {
      this.#stopping = true;
      this.#heartbeats.end();
      this.#claimAbort.abort();
      this.#tasks.dropWaiting();
      this.#tasks.releaseRuns("the agent's credential was refused");
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

  #stop(): Promise<void> {
    if (this.#stopped) {
      // Asked again while draining: hand everything back now.
      this.#tasks.releaseRuns("the agent was told to stop at once");
      return this.#stopped;
    }
    this.#stopped = (async () => {
      this.#stopping = true;
      this.#tasks.handBackWaiting("the agent is stopping");
      const { clock } = this.#o;
      const grace = this.#o.stopGraceMs;
      let deadline = clock.now() + grace;
      if (this.#tasks.runningCount > 0) {
        try {
          await markOwnDrain(this.#o.dataDir);
          deadline = (await this.#o.client.selfDrain(grace)).deadline;
          this.#o.log(
            `stopping: ${this.#tasks.runningCount} running task(s) may finish until ${
              new Date(deadline).toISOString()
            }`,
          );
        } catch (error) {
          this.#o.log(`stopping: the tracker cannot be told (${(error as Error).message}); draining here`);
        }
        // The tracker hands back what is still running at the deadline and tells us to stop it.
        while (this.#tasks.runningCount > 0 && clock.now() < deadline + HAND_BACK_MS) {
          await Promise.race([this.#tasks.allDone(), sleep(clock, 200)]);
          if (clock.now() >= deadline) this.#tasks.releaseRuns("the agent is stopping");
        }
      }
      await this.#tasks.allDone();
      this.#claimAbort.abort();
      if (!(await this.#o.reporter.drained(10_000))) {
        this.#o.log(
          `stopping with ${this.#o.reporter.size} undelivered report(s), kept in the journal for the next start`,
        );
      }
      this.#heartbeats.stop();
      await this.#o.client.leave().then(
        () => clearOwnDrain(this.#o.dataDir),
        (error) => this.#o.log(`could not tell the tracker it leaves: ${error.message}`),
      );
      this.#o.reporter.stop();
    })();
    return this.#stopped;
  }
}
