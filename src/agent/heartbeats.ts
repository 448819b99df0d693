/**
 * The agent's heartbeats: each an interval after the last one's answer (the tracker sets the interval),
 * with the machine's load; an answer says whether the tracker drains this agent.
 */
import type { TimerId } from "../protocol/mod.ts";
import { sampleLoad } from "./load.ts";
import type { LoopOptions } from "./loop_options.ts";

/** What the heartbeats ask of the agent's loop. */
export interface HeartbeatHooks {
  /** Tasks running here now. */
  running: () => number;
  /** Whether the agent is stopping (a drain is then its own: not logged). */
  stopping: () => boolean;
  /** Stops the agent if the error is a refused credential; says whether it did. */
  isFatal: (error: unknown) => boolean;
}

type HeartbeatOptions = Pick<LoopOptions, "client" | "slots" | "heartbeatMs" | "clock" | "log">;

export class Heartbeats {
  #o: HeartbeatOptions;
  #hooks: HeartbeatHooks;
  #heartbeatTimer: TimerId | undefined;
  #heartbeats = true;
  #draining = false;

  constructor(options: HeartbeatOptions, hooks: HeartbeatHooks) {
    this.#o = options;
    this.#hooks = hooks;
  }

  /** The first heartbeat now; each next one an interval after the last one's answer, until stopped. */
  start(): void {
    this.#heartbeat();
  }

  /** No heartbeat after this: the timer of the next one, if set, fires to nothing. */
  end(): void {
    this.#heartbeats = false;
  }

  /** No heartbeat after this, and the timer of the next one is cleared. */
  stop(): void {
    this.#heartbeats = false;
    this.#o.clock.clearTimeout(this.#heartbeatTimer);
  }

  #heartbeat(): void {
    if (!this.#heartbeats) return;
    const load = sampleLoad(this.#hooks.running(), this.#o.slots);
    this.#o.client.heartbeat({ load }).then(
      (response) => {
        this.#o.heartbeatMs = response.heartbeatMs;
        const draining = response.state === "draining";
        if (draining && !this.#draining && !this.#hooks.stopping()) {
          const when = response.drainDeadline ? new Date(response.drainDeadline).toISOString() : "the deadline";
          this.#o.log(`draining: no new work; running tasks are handed back at ${when}`);
        } else if (!draining && this.#draining && !this.#hooks.stopping()) {
          this.#o.log("resumed: taking work again");
        }
        this.#draining = draining;
      },
      // An unreachable tracker is reported by the claim loop (one line, not one per heartbeat).
      (error) => this.#hooks.isFatal(error),
    ).finally(() => {
      if (this.#heartbeats) {
        this.#heartbeatTimer = this.#o.clock.setTimeout(() => this.#heartbeat(), this.#o.heartbeatMs);
      }
    });
  }
}
