/**
 * A follower answers its agents' heartbeats itself, so that the leader does not do every agent's
 * heartbeat work plus the followers' proxying (with it, a second tracker added no capacity). Each agent
 * is answered from the leader's last answer for it (state, drain deadline; heartbeat and TTL as the
 * leader set them), and its heartbeat is queued; every min(1 s, heartbeatMs / 2) the queued ones go to
 * the leader in one request (`POST /v1/trackers/heartbeats`), which applies each as the agent's own
 * heartbeat, as of when it came here, and answers each agent's state, refreshing what is known here.
 *
 * What is not answered from what is known goes to the leader at once (with whatever else is queued)
 * and is answered from its reply: an agent's first heartbeat here, one whose last answer is a few
 * heartbeats old, one the leader did not know (removed: it gets its 401 as a forwarded one did), and
 * every one while the leader is away (the last batch failed, or one has been under way for longer than
 * a batch interval): never an answer that all is well from a leader that is gone.
 */
import {
  type AgentLoad,
  type AgentState,
  type Clock,
  FabricError,
  type HeartbeatResponse,
  type RelayedHeartbeats,
  type RelayedHeartbeatsResponse,
  systemClock,
  type TimerId,
} from "../protocol/mod.ts";

/** How many of its heartbeats an agent's last answer from the leader is good for. */
const FRESH_HEARTBEATS = 3;
/** The longest a batch interval is (the brief: min(1 s, heartbeatMs / 2)). */
const MAX_INTERVAL_MS = 1000;
/** Known answers of agents silent this long are forgotten (a bound on what is kept). */
const FORGET_AFTER_MS = 60_000;

export interface HeartbeatRelayOptions {
  /** The batch, answered by the leader; a FabricError when it cannot be. */
  send: (batch: RelayedHeartbeats) => Promise<RelayedHeartbeatsResponse>;
  /** Until the leader says: this tracker's own settings. */
  heartbeatMs: number;
  ttlMs: number;
  clock?: Clock;
}

interface Known {
  state: AgentState;
  drainDeadline: number | null;
  /** When the leader gave it. */
  at: number;
}

interface Waiter {
  resolve: (answer: HeartbeatResponse) => void;
  reject: (error: unknown) => void;
}

interface Queued {
  load: AgentLoad;
  /** When the heartbeat came. */
  at: number;
  waiters: Waiter[];
}

export class HeartbeatRelay {
  #send: HeartbeatRelayOptions["send"];
  #clock: Clock;
  #heartbeatMs: number;
  #ttlMs: number;
  #known = new Map<string, Known>();
  #queue = new Map<string, Queued>();
  #timer: TimerId | undefined;
  #timerDue = Infinity;
  /** When the batch under way was sent, or null. */
  #sendingSince: number | null = null;
  #okAt = -Infinity;
  #failing = false;
  #forgotAt: number;
  #closed = false;
  /** This tracker leads: nothing is relayed (a batch that failed as it took over is not sent again). */
  #leadsHere = false;

  constructor(options: HeartbeatRelayOptions) {
    this.#send = options.send;
    this.#clock = options.clock ?? systemClock;
    this.#heartbeatMs = options.heartbeatMs;
    this.#ttlMs = options.ttlMs;
    this.#forgotAt = this.#clock.now();
  }

  /** How often queued heartbeats go to the leader. */
  get intervalMs(): number {
    return Math.max(1, Math.min(MAX_INTERVAL_MS, Math.floor(this.#heartbeatMs / 2)));
  }

  /** The answer to agent `agentId`'s heartbeat: at once from what is known, else once the leader answered. */
  heartbeat(agentId: string, load: AgentLoad): HeartbeatResponse | Promise<HeartbeatResponse> {
    if (this.#closed) throw new FabricError("unavailable", "This tracker is stopping; try another");
    const now = this.#clock.now();
    const known = this.#known.get(agentId);
    const queued = this.#queue.get(agentId);
    const entry: Queued = { load, at: now, waiters: queued?.waiters ?? [] };
    this.#queue.set(agentId, entry);
    if (known && now - known.at <= FRESH_HEARTBEATS * this.#heartbeatMs && this.#leaderPresent(now)) {
      this.#schedule(this.intervalMs);
      return this.#answer(known);
    }
    const answer = new Promise<HeartbeatResponse>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    this.#schedule(0);
    return answer;
  }

  /**
   * Another tracker leads now, or none: what the last one said is not its successor's word. When this
   * one leads, it answers heartbeats itself: what is queued is dropped (its agents are told to try again).
   */
  leaderChanged(leadsHere: boolean): void {
    this.#known.clear();
    this.#okAt = -Infinity;
    this.#leadsHere = leadsHere;
    if (!leadsHere) return;
    const error = new FabricError("unavailable", "This tracker is taking over as the leader; try again");
    for (const entry of this.#queue.values()) for (const waiter of entry.waiters) waiter.reject(error);
    this.#queue.clear();
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    const error = new FabricError("unavailable", "This tracker is stopping; try another");
    for (const entry of this.#queue.values()) for (const waiter of entry.waiters) waiter.reject(error);
    this.#queue.clear();
  }

  /** The leader answered lately, and no batch is failing or hanging: what it said still stands. */
  #leaderPresent(now: number): boolean {
    if (this.#failing) return false;
    if (this.#sendingSince !== null && now - this.#sendingSince > this.intervalMs) return false;
    return now - this.#okAt <= Math.max(2 * this.intervalMs, this.#heartbeatMs + this.intervalMs);
  }

  #answer(known: Known): HeartbeatResponse {
    return {
      state: known.state,
      heartbeatMs: this.#heartbeatMs,
      ttlMs: this.#ttlMs,
      drainDeadline: known.drainDeadline,
    };
  }

  /** A batch in `delayMs` at the latest (after the one under way, if any). */
  #schedule(delayMs: number): void {
    if (this.#closed || this.#sendingSince !== null) return; // the batch under way schedules the next
    const due = this.#clock.now() + delayMs;
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      void this.#flush();
    }, delayMs);
  }

  async #flush(): Promise<void> {
    if (this.#queue.size === 0 || this.#sendingSince !== null) return;
    const entries = [...this.#queue];
    this.#queue = new Map();
    const now = this.#clock.now();
    this.#sendingSince = now;
    const heartbeats = entries.map(([agentId, q]) => ({ agentId, load: q.load, ageMs: Math.max(0, now - q.at) }));
    try {
      const reply = await this.#send({ heartbeats });
      this.#record(entries, reply);
    } catch (error) {
      this.#failing = true;
      const refused = error instanceof FabricError ? error.message : String((error as Error)?.message ?? error);
      // Never the leader's refusal of this tracker passed on as the agent's: the agent would stop.
      const unavailable = error instanceof FabricError && error.code === "unavailable"
        ? error
        : new FabricError("unavailable", `This tracker could not pass heartbeats on to the leader: ${refused}`);
      for (const [agentId, q] of entries) {
        for (const waiter of q.waiters) waiter.reject(unavailable);
        // Kept for the next batch (the leader learns it late rather than never), unless a newer one came.
        if (!this.#queue.has(agentId) && !this.#leadsHere) this.#queue.set(agentId, { ...q, waiters: [] });
      }
    } finally {
      this.#sendingSince = null;
    }
    this.#forgetSilent();
    if (this.#queue.size === 0) return;
    const waiting = [...this.#queue.values()].some((q) => q.waiters.length > 0);
    // While the leader is away, a short pause between batches: a failed one must not be sent in a loop.
    this.#schedule(waiting ? (this.#failing ? Math.min(100, this.intervalMs) : 0) : this.intervalMs);
  }

  #record(entries: Array<[string, Queued]>, reply: RelayedHeartbeatsResponse): void {
    const now = this.#clock.now();
    this.#okAt = now;
    this.#failing = false;
    this.#heartbeatMs = reply.heartbeatMs;
    this.#ttlMs = reply.ttlMs;
    for (let i = 0; i < entries.length; i++) {
      const [agentId, q] = entries[i];
      const answer = reply.answers[i];
      if (answer?.agentId !== agentId) {
        const error = new FabricError("unavailable", "The leader's answer to relayed heartbeats did not match them");
        for (const waiter of q.waiters) waiter.reject(error);
        continue;
      }
      if (answer.state === "unknown") {
        this.#known.delete(agentId);
        const error = new FabricError(
          "unauthorized",
          `Agent "${agentId}" is not registered, or was removed (fabric agents remove): its credential is revoked`,
        );
        for (const waiter of q.waiters) waiter.reject(error);
        continue;
      }
      const known = { state: answer.state, drainDeadline: answer.drainDeadline, at: now };
      this.#known.set(agentId, known);
      for (const waiter of q.waiters) waiter.resolve(this.#answer(known));
    }
  }

  /** What is known of agents no longer heard from goes, a sweep a minute at most. */
  #forgetSilent(): void {
    const now = this.#clock.now();
    if (now - this.#forgotAt < FORGET_AFTER_MS) return;
    this.#forgotAt = now;
    for (const [agentId, known] of this.#known) if (now - known.at > FORGET_AFTER_MS) this.#known.delete(agentId);
  }
}
