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
import { EMPTY, type Held, HeldClaims } from "./held_claims.ts";

/** How long the leader holds the pool's long poll with nothing to answer. */
const POLL_WAIT_MS = 20_000;
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

export class ClaimRelay {
  #send: ClaimRelayOptions["send"];
  #clock: Clock;
  /** The claims held here, and what the leader is yet to be told of them (held_claims.ts). */
  #claims: HeldClaims;
  /** The pool's name at the leader, and whether its first request has been answered. */
  #pool = newId();
  #poolMade = false;
  #changing = false;
  #changeTimer: TimerId | undefined;
  /** The pool whose long poll is under way. */
  #pollingPool: string | null = null;
  #closed = false;
  #leadsHere = false;

  constructor(options: ClaimRelayOptions) {
    this.#send = options.send;
    this.#clock = options.clock ?? systemClock;
    this.#claims = new HeldClaims({
      clock: this.#clock,
      changed: () => this.#changed(),
      refused: options.refused ?? (() => {}),
    });
  }

  /** How many claims wait here (tests). */
  get waiting(): number {
    return this.#claims.size;
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
    this.#claims.settle(agentId, (held) => held.resolve(EMPTY));
    if (signal?.aborted) return Promise.resolve(EMPTY);
    return this.#claims.hold(agentId, credentialHash, request, signal);
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
    for (const [agentId] of [...this.#claims.entries()]) this.#claims.settle(agentId, (held) => held.reject(error));
    this.#claims.open.clear();
    this.#claims.ended.clear();
    this.#pool = newId();
    this.#poolMade = false;
  }

  #changed(): void {
    if (this.#closed || this.#changing || this.#changeTimer !== undefined) return;
    if (this.#claims.open.size === 0 && this.#claims.ended.size === 0) return;
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
    for (const agentId of this.#claims.open) {
      const held = this.#claims.get(agentId);
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
      ended: first ? [] : [...this.#claims.ended].map(([agentId, ticket]) => ({ agentId, ticket })),
      waitMs: 0,
    };
    this.#claims.open.clear();
    this.#claims.ended.clear();
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
          for (const [agentId, held] of opened) if (this.#claims.get(agentId) === held) held.atLeader = true;
          this.#claims.deliver(response);
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
      while (!this.#closed && pool === this.#pool && this.#poolMade && this.#claims.size > 0) {
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
          this.#claims.deliver(response);
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
    this.#claims.ended.clear();
    for (const [agentId, held] of [...this.#claims.entries()]) {
      if (held.atLeader) {
        this.#claims.settle(agentId, (taken) => taken.resolve(EMPTY));
        continue;
      }
      held.sent = false;
      this.#claims.open.add(agentId);
    }
    this.#claims.ended.clear();
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
