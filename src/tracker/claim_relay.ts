/**
 * A follower holds its agents' claim long polls itself (the leader's side: claim_pools.ts). Each agent's
 * claim waits here; the follower tells the leader, in batches (`POST /v1/trackers/claims`, with no wait),
 * which claims opened and which ended, and keeps one long poll of that route open to take the answers,
 * each given to the claim it names. So the leader holds one request per follower instead of one per
 * agent, and the follower opens no connection per agent to it.
 *
 * While the leader cannot be reached, or changes, the pool is started again at the next leader: a claim
 * a leader had taken is answered empty (its agent claims again, naming what it holds now), one no leader
 * took yet waits and goes in the new pool.
 * A claim whose agent went away is ended at the leader; an answer that comes for a claim no longer here
 * is dropped, and the leader sends its assignments again on that agent's next claim (claim_pools.ts).
 */
import {
  type ClaimRequest,
  type ClaimResponse,
  type Clock,
  FabricError,
  NO_LEADER_DETAILS,
  type PooledClaims,
  type PooledClaimsResponse,
  systemClock,
  type TimerId,
} from "../protocol/mod.ts";
import { newId } from "./auth.ts";

/** How long the leader holds the pool's long poll with nothing to answer. */
const POLL_WAIT_MS = 20_000;
/** A claim is answered empty here this long after its wait, if the leader has not answered it by then. */
const GRACE_MS = 2_000;
/** The longest a request of changes waits for the leader. */
const CHANGE_TIMEOUT_MS = 10_000;
/** Changes wait this long to go with others in one request. */
const BATCH_MS = 20;
/** Pause after a failed request before the next. */
const RETRY_MS = 500;

export interface ClaimRelayOptions {
  /** One request to the leader, within `timeoutMs`; a FabricError when it cannot be answered. */
  send: (request: PooledClaims, timeoutMs: number) => Promise<PooledClaimsResponse>;
  /** The leader refused an agent's credential: what is known of it here is out of date. */
  refused?: (agentId: string) => void;
  clock?: Clock;
}

interface Held {
  ticket: number;
  resolve: (response: ClaimResponse) => void;
  reject: (error: unknown) => void;
  timer: TimerId;
  /** The leader has been told of it (in the current pool). */
  sent: boolean;
  /** A leader took it (the request that carried it was answered): what it holds is as of then. */
  atLeader: boolean;
  request: ClaimRequest;
  credentialHash: string;
}

const EMPTY: ClaimResponse = { assignments: [], stop: [] };

export class ClaimRelay {
  #send: ClaimRelayOptions["send"];
  #refused: (agentId: string) => void;
  #clock: Clock;
  #held = new Map<string, Held>();
  #tickets = 0;
  /** The pool's name at the leader, and whether its first request has been answered. */
  #pool = newId();
  #poolMade = false;
  /** Claims to open and to end at the leader, by agent (an agent's latest change stands). */
  #open = new Set<string>();
  #ended = new Map<string, number>();
  #changing = false;
  #changeTimer: TimerId | undefined;
  /** The pool whose long poll is under way. */
  #pollingPool: string | null = null;
  #closed = false;
  #leadsHere = false;

  constructor(options: ClaimRelayOptions) {
    this.#send = options.send;
    this.#refused = options.refused ?? (() => {});
    this.#clock = options.clock ?? systemClock;
  }

  /** How many claims wait here (tests). */
  get waiting(): number {
    return this.#held.size;
  }

  /**
   * Agent `agentId`'s claim, made with the credential whose hash is `credentialHash`: answered by the
   * leader, or empty after its wait.
   */
  claim(agentId: string, credentialHash: string, request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    if (this.#closed) throw new FabricError("unavailable", "This tracker is stopping; try another");
    if (this.#leadsHere) {
      throw new FabricError("unavailable", "This tracker is taking over as the leader; try again", NO_LEADER_DETAILS);
    }
    // One open claim per agent, as at the leader: a newer one (after a dropped connection) answers the older.
    this.#settle(agentId, (held) => held.resolve(EMPTY));
    if (signal?.aborted) return Promise.resolve(EMPTY);
    const ticket = ++this.#tickets;
    return new Promise<ClaimResponse>((resolve, reject) => {
      // Ended here without the leader's answer: its wait ran out, or the agent went away (the leader is
      // told to stop waiting for it; what it was sent meanwhile is sent again on the agent's next claim).
      const end = () => {
        const held = this.#held.get(agentId);
        if (held?.ticket !== ticket) return;
        this.#settle(agentId, () => {});
        this.#changed();
        settled();
        resolve(EMPTY);
      };
      const settled = () => signal?.removeEventListener("abort", end);
      const timer = this.#clock.setTimeout(end, request.waitMs + GRACE_MS);
      this.#held.set(agentId, {
        ticket,
        timer,
        sent: false,
        atLeader: false,
        request,
        credentialHash,
        resolve: (response) => {
          settled();
          resolve(response);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      });
      signal?.addEventListener("abort", end, { once: true });
      this.#ended.delete(agentId);
      this.#open.add(agentId);
      this.#changed();
    });
  }

  /**
   * Another tracker leads now, or none: the claims held here go in a new pool at the next leader (they
   * wait meanwhile, up to their own wait). When this one leads, it answers claims itself: those held
   * here are told to try again.
   */
  leaderChanged(leadsHere: boolean): void {
    this.#leadsHere = leadsHere;
    if (leadsHere) {
      this.#reset(
        new FabricError("unavailable", "This tracker is taking over as the leader; try again", NO_LEADER_DETAILS),
      );
    } else {
      this.#restart();
    }
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#changeTimer);
    this.#reset(new FabricError("unavailable", "This tracker is stopping; try another"));
  }

  /** Every claim held is refused with `error`, and the next request starts a new pool. */
  #reset(error: FabricError): void {
    for (const agentId of [...this.#held.keys()]) this.#settle(agentId, (held) => held.reject(error));
    this.#open.clear();
    this.#ended.clear();
    this.#pool = newId();
    this.#poolMade = false;
  }

  /** The claim of `agentId` held here, if any, removed and given to `f`. */
  #settle(agentId: string, f: (held: Held) => void): void {
    const held = this.#held.get(agentId);
    if (!held) return;
    this.#held.delete(agentId);
    this.#clock.clearTimeout(held.timer);
    if (held.sent) this.#ended.set(agentId, held.ticket);
    this.#open.delete(agentId);
    f(held);
  }

  #changed(): void {
    if (this.#closed || this.#changing || this.#changeTimer !== undefined) return;
    if (this.#open.size === 0 && this.#ended.size === 0) return;
    this.#changeTimer = this.#clock.setTimeout(() => {
      this.#changeTimer = undefined;
      void this.#sendChanges();
    }, BATCH_MS);
  }

  /** What changed goes to the leader, one request at a time (so they arrive in order). */
  async #sendChanges(): Promise<void> {
    if (this.#closed || this.#changing) return;
    const pool = this.#pool;
    const first = !this.#poolMade;
    const opened: Array<[string, Held]> = [];
    for (const agentId of this.#open) {
      const held = this.#held.get(agentId);
      if (held) opened.push([agentId, held]);
    }
    const request: PooledClaims = {
      pool,
      first,
      open: opened.map(([agentId, held]) => ({
        agentId,
        ticket: held.ticket,
        credentialHash: held.credentialHash,
        holding: held.request.holding,
        waitMs: held.request.waitMs,
      })),
      ended: first ? [] : [...this.#ended].map(([agentId, ticket]) => ({ agentId, ticket })),
      waitMs: 0,
    };
    this.#open.clear();
    this.#ended.clear();
    for (const [, held] of opened) held.sent = true;
    this.#changing = true;
    let failed = false;
    try {
      const response = await this.#send(request, CHANGE_TIMEOUT_MS);
      // Started anew meanwhile: what was asked of the old pool is moot.
      if (pool === this.#pool) {
        if (response.unknownPool) {
          this.#restart();
        } else {
          if (first) this.#poolMade = true;
          for (const [agentId, held] of opened) if (this.#held.get(agentId) === held) held.atLeader = true;
          this.#deliver(response);
        }
      }
    } catch (error) {
      if (pool === this.#pool) {
        failed = true;
        this.#failed(error);
      }
    } finally {
      this.#changing = false;
    }
    if (failed) {
      this.#clock.setTimeout(() => this.#changed(), RETRY_MS);
    } else {
      this.#changed();
    }
    void this.#poll();
  }

  /**
   * The pool's long poll, open while claims wait here and the pool is made. One per pool: a poll still
   * held by a leader that no longer leads does not hold up the new pool's.
   */
  async #poll(): Promise<void> {
    const pool = this.#pool;
    if (this.#closed || this.#pollingPool === pool || !this.#poolMade) return;
    this.#pollingPool = pool;
    try {
      while (!this.#closed && pool === this.#pool && this.#poolMade && this.#held.size > 0) {
        try {
          const response = await this.#send(
            { pool, first: false, open: [], ended: [], waitMs: POLL_WAIT_MS },
            POLL_WAIT_MS + 10_000,
          );
          if (pool !== this.#pool) break;
          if (response.unknownPool) {
            this.#restart();
            break;
          }
          this.#deliver(response);
        } catch (error) {
          if (pool !== this.#pool) break;
          this.#failed(error);
          await new Promise<void>((resolve) => this.#clock.setTimeout(() => resolve(), RETRY_MS));
        }
      }
    } finally {
      if (this.#pollingPool === pool) this.#pollingPool = null;
    }
  }

  #deliver(response: PooledClaimsResponse): void {
    for (const answer of response.answers) {
      const held = this.#held.get(answer.agentId);
      // For a claim no longer here: dropped, and what it carried is sent again on the agent's next claim.
      if (held?.ticket !== answer.ticket) continue;
      this.#held.delete(answer.agentId);
      this.#clock.clearTimeout(held.timer);
      if (answer.error) {
        if (answer.error.code === "unauthorized") this.#refused(answer.agentId);
        held.reject(new FabricError(answer.error.code, answer.error.message));
      } else {
        held.resolve(answer.response ?? EMPTY);
      }
    }
  }

  /**
   * The leader does not hold the pool (it took over since, or ended it), or the lease moved, or the
   * leader could not be reached: a new pool. A claim a leader took is answered empty here, and the agent
   * claims again at once, naming what it holds now: carried to a new leader as it was, it would name what
   * the agent held when it opened it, and the new leader (which has not had the agent's reports written
   * while it was away) would send again what the agent has run since. A claim no leader took yet goes in
   * the new pool as it is.
   */
  #restart(): void {
    this.#pool = newId();
    this.#poolMade = false;
    this.#ended.clear();
    for (const [agentId, held] of [...this.#held]) {
      if (held.atLeader) {
        this.#settle(agentId, (taken) => taken.resolve(EMPTY));
        continue;
      }
      held.sent = false;
      this.#open.add(agentId);
    }
    this.#ended.clear();
    this.#changed();
  }

  /**
   * The leader could not be reached, or refused the pool: a new pool with the next request, to whichever
   * tracker leads then (#restart). A takeover thus costs an agent on a follower an empty answer or a late
   * one, never a refusal that sends it to another tracker.
   */
  #failed(_error: unknown): void {
    this.#restart();
  }
}
