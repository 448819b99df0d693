/**
 * How a tracker that follows reaches the one that leads: the forwarder (http/forwarding.ts) for what it
 * cannot answer itself, the relays that answer its agents' heartbeats (heartbeat_relay.ts) and hold
 * their claims (claim_relay.ts) and send them on in batches, and its own check of its agents'
 * credentials (follower_auth.ts). Each is told of every change of leader.
 */
import { join } from "node:path";
import { FabricError, NO_LEADER_DETAILS } from "../protocol/mod.ts";
import type { Store } from "../store/mod.ts";
import { ClaimRelay } from "./claim_relay.ts";
import { FollowerAuth } from "./follower_auth.ts";
import { HeartbeatRelay } from "./heartbeat_relay.ts";
import { ROUTES } from "./http/authorization.ts";
import { Forwarder } from "./http/forwarding.ts";
import type { Leadership } from "./leadership.ts";
import type { TrackersList } from "./trackers_list.ts";

/**
 * The longest a batch of relayed heartbeats waits for the leader: past it, the follower's agents are
 * answered 503 and try again (here or on another tracker) well within their TTL.
 */
const RELAY_TIMEOUT_MS = 3000;

export interface FollowerLinksOptions {
  store: Store;
  /** This tracker (trackerId). */
  id: string;
  /** Its data directory: the admin token the relays send with is read from it for each batch. */
  dataDir: string;
  /** The CA the other trackers' certificates are signed by. */
  caPem: string;
  leadership: Leadership;
  trackers: TrackersList;
  /** This tracker's own settings, until the leader says (TrackerServerOptions). */
  heartbeatMs?: number;
  ttlMs?: number;
}

export interface FollowerLinks {
  forwarder: Forwarder;
  relay: HeartbeatRelay;
  auth: FollowerAuth;
  claims: ClaimRelay;
  /** The lease's holder changed (null: none). */
  leaderChanged(holder: string | null): void;
  close(): void;
}

export function followerLinks(options: FollowerLinksOptions): FollowerLinks {
  const { store, id, leadership, trackers } = options;
  const forwarder = new Forwarder({
    caPem: options.caPem,
    self: id,
    leader: async () => {
      const holder = leadership.holder;
      if (holder === null) return null;
      // It holds the lease and is loading the state (in slices: seconds for a large store): it did
      // nothing, and a client sends the request again, as while no tracker leads.
      if (holder === id) {
        throw new FabricError("unavailable", "This tracker is taking over as the leader; try again", NO_LEADER_DETAILS);
      }
      const url = await trackers.urlOf(holder);
      return url === null ? null : { id: holder, url };
    },
  });
  // A follower answers its agents' heartbeats itself and sends them on in batches, with the admin token
  // of its data directory (read for each batch: `reset-admin-token` may change it).
  const relay = new HeartbeatRelay({
    // Until the leader says (its first answer): this tracker's own settings, as Tracker sets them.
    heartbeatMs: options.heartbeatMs ?? 2000,
    ttlMs: options.ttlMs ?? (options.heartbeatMs ?? 2000) * 3,
    send: async (batch) => {
      const token = (await Deno.readTextFile(join(options.dataDir, "admin.token"))).trim();
      return await forwarder.call(ROUTES.relayHeartbeats.path, batch, token, RELAY_TIMEOUT_MS);
    },
  });
  const auth = new FollowerAuth(store);
  // Its agents' claims wait here, pooled at the leader (claim_relay.ts), with the same admin token.
  const claims = new ClaimRelay({
    send: async (request, timeoutMs) => {
      const token = (await Deno.readTextFile(join(options.dataDir, "admin.token"))).trim();
      return await forwarder.call(ROUTES.poolClaims.path, request, token, timeoutMs);
    },
    refused: (agentId) => auth.forget(agentId),
  });
  return {
    forwarder,
    relay,
    auth,
    claims,
    leaderChanged: (holder) => {
      forwarder.leaderChanged(holder);
      relay.leaderChanged(holder === id);
      claims.leaderChanged(holder === id);
    },
    close: () => {
      relay.close();
      claims.close();
      forwarder.close();
    },
  };
}
