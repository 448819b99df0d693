/**
 * The tracker's policy at the HTTPS layer's door: every route but the CA's and the probes' is admitted
 * only with a token that authenticates and that the route is for (http/authorization.ts), checked from
 * the headers before any body is read, with the route's body limit; the agents' hot routes are then
 * answered without Hono (see fastAgentRoutes).
 */
import { FabricError, parseJsonBody } from "../../protocol/mod.ts";
import type { Admission, FrontDoor } from "../https_server.ts";
import { agentHotRoutes } from "../routes.ts";
import type { Principal, Tracker } from "../tracker.ts";
import { admitAudited } from "./audited_admission.ts";
import { bodyLimit } from "./body_limits.ts";
import { errorResponse } from "./error_response.ts";

/** What the door learned: the caller, or null for a request that needs no token. */
export type Caller = Principal | null;

/** A leader's door answers at once: it never needs the store to admit a request. */
export type LeaderFrontDoor = Omit<FrontDoor<Caller>, "admit"> & {
  admit(method: string, path: string, authorization: string | undefined, address?: string | null): Admission<Caller>;
};

export function trackerFrontDoor(tracker: Tracker, log: (line: string) => void): LeaderFrontDoor {
  return {
    admit(method, path, authorization, address) {
      const context = admitAudited(tracker, { method, path, authorization, address });
      return { maxBodyBytes: bodyLimit(method, path), context };
    },
    fast: fastAgentRoutes(tracker),
    errorResponse: (error, where) => errorResponse(error, where, log),
  };
}

/**
 * The hot agent routes without building a Request, a Response and Hono's context for each call
 * (at 5,000 agents that was a third of the tracker's time). Same handlers, same checks, same errors
 * (thrown, for the door's errorResponse); null for any other request, which then goes through Hono.
 */
export function fastAgentRoutes(tracker: Tracker): NonNullable<FrontDoor<Caller>["fast"]> {
  const routes = agentHotRoutes(tracker);
  return async (method, path, caller, body, signal) => {
    const handler = method === "POST" ? routes[path] : undefined;
    if (!handler || !caller) return null;
    if (caller.kind !== "agent") {
      throw new FabricError("forbidden", "This route is for agents, with their own credential");
    }
    return { status: 200, body: JSON.stringify(await handler(caller.agentId, parseJsonBody(body), signal)) };
  };
}
