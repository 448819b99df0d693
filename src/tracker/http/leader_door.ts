/**
 * The HTTPS layer's door and handler for a tracker that may lead or follow. While a Tracker leads
 * here, its own door (front_door.ts) and routes answer. While this tracker follows, it answers itself
 * only what needs no leader: `GET /v1/ca` (public: an agent pins it before anything else),
 * `GET /v1/trackers` (from the store: an agent or client that reached any tracker learns them all) and
 * its agents' heartbeats (from the leader's last answer for each, sent on in batches: heartbeat_relay.ts)
 * and its agents' claim long polls (held here, carried to the leader in one pool: claim_relay.ts);
 * everything else is admitted here as the leader's door admits it (the same principal, found by
 * follower_auth.ts from the store, the same route table, the same body limits), and forwarded to the
 * leader (forwarding.ts), which admits it again. The dashboard (outside /v1/) is forwarded as it is.
 *
 * Why a follower serves no reads of jobs, tasks or logs itself: the leader's memory is the only
 * complete view of what is active (waiting reasons, placement, output not yet in the store a reader
 * follows live), and an answer must not depend on which tracker a client reached. Reads of what has
 * ended could be served from the store by any tracker later, to take load off the leader.
 */
import {
  claimRequestSchema,
  FabricError,
  heartbeatRequestSchema,
  parseJsonBody,
  type TrackersResponse,
} from "../../protocol/mod.ts";
import type { ClaimRelay } from "../claim_relay.ts";
import type { Principal } from "../credentials.ts";
import type { FollowerAuth } from "../follower_auth.ts";
import type { HeartbeatRelay } from "../heartbeat_relay.ts";
import type { FetchHandler, FrontDoor } from "../https_server.ts";
import type { Leadership } from "../leadership.ts";
import { healthAnswer, HttpMetrics } from "../metrics/mod.ts";
import { createRoutes, type RoutesOptions } from "../routes.ts";
import type { Tracker } from "../tracker.ts";
import type { TrackersList } from "../trackers_list.ts";
import { admitRequest } from "./authenticate.ts";
import { findRoute, ROUTES } from "./authorization.ts";
import { bodyLimit } from "./body_limits.ts";
import { errorResponse } from "./error_response.ts";
import type { Forwarder } from "./forwarding.ts";
import { validate } from "./route_params.ts";
import { type Caller, trackerFrontDoor } from "./front_door.ts";

export interface LeaderDoorOptions extends Omit<RoutesOptions, "trackers"> {
  /** This tracker's name. */
  id: string;
  auth: FollowerAuth;
  forwarder: Forwarder;
  /** A follower answers its agents' heartbeats itself (heartbeat_relay.ts). */
  relay: HeartbeatRelay;
  /** A follower holds its agents' claim long polls itself, pooled at the leader (claim_relay.ts). */
  claims: ClaimRelay;
  trackers: TrackersList;
  log: (line: string) => void;
}

const TEXT = "text/plain; charset=utf-8";

interface Served {
  door: FrontDoor<Caller>;
  app: ReturnType<typeof createRoutes>;
  http: HttpMetrics;
}

type HttpObserver = (method: string, path: string, status: number, seconds: number) => void;

export function leaderOrFollower(
  leadership: Leadership,
  options: LeaderDoorOptions,
): { door: FrontDoor<Caller>; handler: FetchHandler<Caller>; observe: HttpObserver } {
  const { caPem, id, auth, forwarder, relay, claims, trackers, log } = options;
  const listTrackers = async (): Promise<TrackersResponse> => ({ trackers: await trackers.views(), answeredBy: id });
  // One door and one set of routes per Tracker: a takeover loads a new one.
  const served = new WeakMap<Tracker, Served>();
  const serve = (tracker: Tracker) => {
    let entry = served.get(tracker);
    if (!entry) {
      const app = createRoutes(tracker, { ...options, trackers: listTrackers });
      const http = new HttpMetrics(tracker.metrics.registry, app.routes);
      served.set(tracker, entry = { door: trackerFrontDoor(tracker, log), app, http });
    }
    return entry;
  };
  // Requests are counted in the metrics of the Tracker that leads here (a follower keeps none).
  const observe: HttpObserver = (method, path, status, seconds) => {
    const tracker = leadership.tracker;
    if (tracker) serve(tracker).http.observe(method, path, status, seconds);
  };
  const door: FrontDoor<Caller> = {
    admit(method, path, authorization, address) {
      const tracker = leadership.tracker;
      if (tracker) return serve(tracker).door.admit(method, path, authorization, address);
      const maxBodyBytes = bodyLimit(method, path);
      // As the leader's door (authenticate.ts): a path neither in the API nor in the table (the
      // dashboard's pages) the leader decides, a route for anyone needs no token, and every other is
      // refused here as there: 401, 403 or 404.
      const rule = findRoute(method, path);
      if ((!rule && !path.startsWith("/v1/")) || rule?.need.who === "anyone") return { maxBodyBytes, context: null };
      // A refusal here (403) is the follower's own, answered while the leader may be away: it is not in the
      // audit trail, which only the leader writes (docs/operating.md says so).
      const admitted = (principal: Principal) => ({
        maxBodyBytes,
        context: admitRequest({ authenticate: () => principal }, { method, path, authorization }),
      });
      const principal = auth.authenticate(authorization);
      return principal instanceof Promise ? principal.then(admitted) : admitted(principal);
    },
    async fast(method, path, caller, body, signal) {
      const tracker = leadership.tracker;
      if (tracker) return await serve(tracker).door.fast!(method, path, caller, body, signal);
      // Admitted above: only an agent, with its own credential, reaches here on these routes.
      if (method !== "POST" || caller?.kind !== "agent") return null;
      if (path === ROUTES.heartbeat.path) {
        const { load } = validate(heartbeatRequestSchema, parseJsonBody(body));
        return { status: 200, body: JSON.stringify(await relay.heartbeat(caller.agentId, load)) };
      }
      if (path === ROUTES.claim.path) {
        const request = validate(claimRequestSchema, parseJsonBody(body));
        // The credential it was admitted with, which the leader checks against the agent's row.
        const hash = auth.credentialHashOf(caller.agentId);
        if (hash === undefined) throw new FabricError("unavailable", "This tracker lost track of the agent; try again");
        return { status: 200, body: JSON.stringify(await claims.claim(caller.agentId, hash, request, signal)) };
      }
      return null;
    },
    errorResponse: (error, where) => errorResponse(error, where, log),
  };
  const handler: FetchHandler<Caller> = async (request, caller) => {
    const tracker = leadership.tracker;
    if (tracker) return await serve(tracker).app.fetch(request, { principal: caller });
    const path = new URL(request.url).pathname;
    if (request.method === "GET" && path === ROUTES.ca.path) {
      return new Response(caPem, { headers: { "content-type": "application/x-pem-file" } });
    }
    // A follower's own probes: it is alive, and ready while a tracker leads (it serves by forwarding).
    // Its /metrics are the leader's, forwarded: it keeps none of its own.
    if (request.method === "GET" && (path === ROUTES.healthz.path || path === ROUTES.readyz.path)) {
      const problem = path === ROUTES.readyz.path && leadership.holder === null ? "no tracker leads" : null;
      const answer = healthAnswer(problem);
      return new Response(answer.body, { status: answer.status, headers: { "content-type": TEXT } });
    }
    // Admitted by the door above (a caller the route is for).
    if (request.method === "GET" && path === ROUTES.listTrackers.path) return Response.json(await listTrackers());
    return await forwarder.forward(request);
  };
  return { door, handler, observe };
}
