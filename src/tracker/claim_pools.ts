/**
 * The leader's side of pooled claims (`POST /v1/trackers/claims`, claim_relay.ts is the follower's): a
 * follower holds its agents' claim long polls itself and tells the leader, in one pool per follower,
 * which agents wait for work. For each the leader waits exactly as for the agent's own claim (the same
 * `claim`: placement, delivery, stop orders, one open claim per agent), in memory, with no connection
 * of its own; what each wait answers goes to the pool's outbox, and the follower's long poll takes the
 * outbox. So a follower costs the leader one held request, not one per agent.
 *
 * Nothing is lost on the way: an assignment in an answer that never reaches its agent (the follower's
 * poll cut, the agent gone before the answer came) is sent but not acknowledged, and the leader sends
 * it again on the agent's next claim, as it does for a claim answered to a closed connection (claims.ts,
 * REDELIVER_MS); an agent that went for good is counted down after its TTL and its tasks run elsewhere.
 */
import { type ClaimRequest, type ClaimResponse, type Clock, FabricError } from "../protocol/mod.ts";
import type { PooledAnswer, PooledClaims, PooledClaimsResponse } from "../protocol/mod.ts";
import { Wakeup } from "./wakeup.ts";

/** A pool whose follower has sent nothing for this long is ended (its waits stop). */
const POOL_IDLE_MS = 60_000;
/** More pools than followers: the oldest is ended past it. */
const MAX_POOLS = 64;

interface Waiting {
  ticket: number;
  aborter: AbortController;
}

interface Pool {
  id: string;
  waiting: Map<string, Waiting>;
  outbox: PooledAnswer[];
  wakeup: Wakeup;
  lastRequestAt: number;
  /** Ends the long poll held now (a newer one takes its place). */
  held: AbortController | null;
  ended: boolean;
}

export interface ClaimPoolsOptions {
  /** The agent's own claim: answered when there is work or a stop order, or empty after its wait. */
  claim: (
    agentId: string,
    credentialHash: string,
    request: ClaimRequest,
    signal: AbortSignal,
  ) => Promise<ClaimResponse>;
  clock: Clock;
  /** The tracker is stopping: answer now. */
  closing: () => boolean;
}

export class ClaimPools {
  #options: ClaimPoolsOptions;
  #pools = new Map<string, Pool>();

  constructor(options: ClaimPoolsOptions) {
    this.#options = options;
  }

  /** How many claims wait in all pools (tests). */
  get waiting(): number {
    let n = 0;
    for (const pool of this.#pools.values()) n += pool.waiting.size;
    return n;
  }

  /** Apply a follower's changes, then answer what its pool's waits answered, waiting up to `waitMs` for one. */
  async handle(request: PooledClaims, signal?: AbortSignal): Promise<PooledClaimsResponse> {
    const now = this.#options.clock.now();
    this.#endIdle(now);
    let pool = this.#pools.get(request.pool);
    if (request.first) {
      if (pool) this.#end(pool);
      pool = this.#create(request.pool, now);
    }
    if (!pool) return { answers: [], unknownPool: true };
    pool.lastRequestAt = now;
    for (const { agentId, ticket } of request.ended) {
      const waiting = pool.waiting.get(agentId);
      if (waiting?.ticket !== ticket) continue;
      pool.waiting.delete(agentId);
      waiting.aborter.abort();
    }
    for (const open of request.open) this.#open(pool, open);
    if (request.waitMs > 0 && pool.outbox.length === 0 && !this.#options.closing()) {
      // One long poll held per pool: a newer one answers the older (the follower sent it, so it has moved on).
      pool.held?.abort();
      const held = pool.held = new AbortController();
      const stop = () => held.abort();
      signal?.addEventListener("abort", stop, { once: true });
      try {
        await pool.wakeup.wait(request.waitMs, held.signal);
      } finally {
        signal?.removeEventListener("abort", stop);
        if (pool.held === held) pool.held = null;
      }
      // The poll was cut: what the outbox holds waits for the next one, rather than going into a closed connection.
      if (signal?.aborted) return { answers: [] };
    }
    const answers = pool.outbox;
    pool.outbox = [];
    return { answers };
  }

  /** The tracker is stopping: every held poll is answered now (each claim's own wait ends with it). */
  release(): void {
    for (const pool of this.#pools.values()) pool.held?.abort();
  }

  #create(id: string, now: number): Pool {
    if (this.#pools.size >= MAX_POOLS) {
      let oldest: Pool | undefined;
      for (const pool of this.#pools.values()) if (!oldest || pool.lastRequestAt < oldest.lastRequestAt) oldest = pool;
      if (oldest) this.#end(oldest);
    }
    const pool: Pool = {
      id,
      waiting: new Map(),
      outbox: [],
      wakeup: new Wakeup(),
      lastRequestAt: now,
      held: null,
      ended: false,
    };
    this.#pools.set(id, pool);
    return pool;
  }

  #open(pool: Pool, open: PooledClaims["open"][number]): void {
    const { agentId, ticket } = open;
    // The agent's newer claim replaces its older one here too (the leader's own claim does the same).
    pool.waiting.get(agentId)?.aborter.abort();
    const aborter = new AbortController();
    pool.waiting.set(agentId, { ticket, aborter });
    const settle = (answer: PooledAnswer) => {
      if (pool.waiting.get(agentId)?.aborter === aborter) pool.waiting.delete(agentId);
      // Ended by the follower (gone, or replaced): nobody waits for this answer. What it carried is
      // sent but not acknowledged, so the leader sends it again on the agent's next claim.
      if (aborter.signal.aborted || pool.ended) return;
      pool.outbox.push(answer);
      pool.wakeup.notify();
    };
    let claimed: Promise<ClaimResponse>;
    try {
      const request = { holding: open.holding, waitMs: open.waitMs };
      claimed = this.#options.claim(agentId, open.credentialHash, request, aborter.signal);
    } catch (error) {
      claimed = Promise.reject(error);
    }
    claimed.then(
      (response) => settle({ agentId, ticket, response }),
      (error) => {
        const refused = error instanceof FabricError
          ? error
          : new FabricError("internal", `The claim failed at the leader: ${(error as Error)?.message ?? error}`);
        settle({ agentId, ticket, error: { code: refused.code, message: refused.message } });
      },
    );
  }

  #end(pool: Pool): void {
    pool.ended = true;
    this.#pools.delete(pool.id);
    pool.held?.abort();
    for (const waiting of pool.waiting.values()) waiting.aborter.abort();
    pool.waiting.clear();
  }

  #endIdle(now: number): void {
    for (const pool of this.#pools.values()) {
      if (pool.held === null && now - pool.lastRequestAt > POOL_IDLE_MS) this.#end(pool);
    }
  }
}
