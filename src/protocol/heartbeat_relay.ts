/**
 * A follower's agents' heartbeats, sent on to the leader in one request (`POST /v1/trackers/heartbeats`):
 * the follower answers each agent itself from the leader's last answer for it, and the leader learns
 * every heartbeat within a batch interval (docs/postgres.md).
 */
import { z } from "zod";
import { type AgentState, loadSchema } from "./agent.ts";

/** The most heartbeats in one batch: more agents than one tracker carries. */
export const MAX_RELAYED_HEARTBEATS = 50_000;

export const relayedHeartbeatsSchema = z.object({
  heartbeats: z.array(z.object({
    agentId: z.string().min(1).max(200),
    load: loadSchema,
    /** How long before the batch was sent the agent's heartbeat came (the follower's clock, so no skew). */
    ageMs: z.number().int().min(0),
  })).max(MAX_RELAYED_HEARTBEATS),
});
export type RelayedHeartbeats = z.infer<typeof relayedHeartbeatsSchema>;

/** The leader's answer for one agent, or "unknown" for an agent it does not know (removed, never registered). */
export interface RelayedAnswer {
  agentId: string;
  state: AgentState | "unknown";
  drainDeadline: number | null;
}

export interface RelayedHeartbeatsResponse {
  heartbeatMs: number;
  ttlMs: number;
  /** In the order of the request's heartbeats. */
  answers: RelayedAnswer[];
}
