/**
 * A follower's agents' claim long polls, held by the follower and carried to the leader in pooled form
 * (`POST /v1/trackers/claims`): the follower tells the leader which of its agents wait for work (a claim
 * opened, with what the agent holds) and which stopped waiting (gone, or its wait ran out); the leader
 * waits for work for each as it would for the agent's own claim, and answers per agent, in one long poll
 * per follower rather than one request and one connection per agent (docs/postgres.md).
 */
import { z } from "zod";
import { attemptRefSchema, type ClaimResponse } from "./agent_api.ts";
import type { ErrorCode } from "./errors.ts";

/** The most claims opened or ended in one request: more agents than one tracker carries. */
export const MAX_POOLED_CLAIMS = 50_000;

export const pooledClaimsSchema = z.object({
  /** The follower's pool at this leader, named by the follower; a new one after a leader change. */
  pool: z.string().min(1).max(100),
  /** The pool's first request, carrying every claim the follower holds: the leader makes the pool. */
  first: z.boolean(),
  /** Claims the follower's agents opened: each replaces that agent's older claim, as its own would. */
  open: z.array(z.object({
    agentId: z.string().min(1).max(200),
    /** The follower's number for this claim: the answer names it. */
    ticket: z.number().int().min(0),
    /**
     * The hash of the credential the follower accepted: the leader refuses the claim unless it is the
     * agent's current one (the follower's copy of the agents' rows may be a moment old).
     */
    credentialHash: z.string().min(1).max(200),
    holding: z.array(attemptRefSchema).max(100_000),
    waitMs: z.number().int().min(0).max(60_000),
  })).max(MAX_POOLED_CLAIMS),
  /** Claims that ended at the follower (the agent went away, or its wait ran out) before an answer. */
  ended: z.array(z.object({ agentId: z.string().min(1).max(200), ticket: z.number().int().min(0) }))
    .max(MAX_POOLED_CLAIMS),
  /** How long the leader may hold this request while it has no answer (0: it answers at once). */
  waitMs: z.number().int().min(0).max(60_000),
});
export type PooledClaims = z.infer<typeof pooledClaimsSchema>;

/** The leader's answer to one claim: what the agent's own claim would have been answered, or its refusal. */
export interface PooledAnswer {
  agentId: string;
  ticket: number;
  response?: ClaimResponse;
  error?: { code: ErrorCode; message: string };
}

export interface PooledClaimsResponse {
  answers: PooledAnswer[];
  /** The leader does not hold this pool (it took over since, or the pool sat idle): start a new one. */
  unknownPool?: boolean;
}
