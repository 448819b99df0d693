/**
 * The claims a follower holds for its agents (claim_relay.ts, which tells the leader of them): one per
 * agent, each answered by the leader's answer or, once its wait is over, empty; and the changes the
 * leader is yet to be told of: which claims opened, and which it was told of ended.
 */
import {
  type ClaimRequest,
  type ClaimResponse,
  type Clock,
  FabricError,
  type PooledClaimsResponse,
  type TimerId,
} from "../protocol/mod.ts";

/** A claim is answered empty here this long after its wait, if the leader has not answered it by then. */
const GRACE_MS = 2_000;

export interface Held {
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

export const EMPTY: ClaimResponse = { assignments: [], stop: [] };

export interface HeldClaimsOptions {
  clock: Clock;
  /** A claim opened or ended here: the leader is to be told. */
  changed: () => void;
  /** The leader refused an agent's credential. */
  refused: (agentId: string) => void;
}

export class HeldClaims {
  #clock: Clock;
  #changed: () => void;
  #refused: (agentId: string) => void;
  #held = new Map<string, Held>();
  #tickets = 0;
  /** Claims to open and to end at the leader, by agent (an agent's latest change stands). */
  readonly open = new Set<string>();
  readonly ended = new Map<string, number>();

  constructor(options: HeldClaimsOptions) {
    this.#clock = options.clock;
    this.#changed = options.changed;
    this.#refused = options.refused;
  }

  get size(): number {
    return this.#held.size;
  }

  get(agentId: string): Held | undefined {
    return this.#held.get(agentId);
  }

  /** Every claim held, by agent. */
  entries(): IterableIterator<[string, Held]> {
    return this.#held.entries();
  }

  /** Agent `agentId`'s claim, held until the leader answers it or its wait is over (or `signal` aborts). */
  hold(agentId: string, credentialHash: string, request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    const ticket = ++this.#tickets;
    return new Promise<ClaimResponse>((resolve, reject) => {
      // Ended here without the leader's answer: its wait ran out, or the agent went away (the leader is
      // told to stop waiting for it; what it was sent meanwhile is sent again on the agent's next claim).
      const end = () => {
        const held = this.#held.get(agentId);
        if (held?.ticket !== ticket) return;
        this.settle(agentId, () => {});
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
      this.ended.delete(agentId);
      this.open.add(agentId);
      this.#changed();
    });
  }

  /** The claim of `agentId` held here, if any, removed and given to `f`. */
  settle(agentId: string, f: (held: Held) => void): void {
    const held = this.#held.get(agentId);
    if (!held) return;
    this.#held.delete(agentId);
    this.#clock.clearTimeout(held.timer);
    if (held.sent) this.ended.set(agentId, held.ticket);
    this.open.delete(agentId);
    f(held);
  }

  /** The leader's answers, each to the claim it names. */
  deliver(response: PooledClaimsResponse): void {
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
}
