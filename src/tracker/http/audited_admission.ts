/**
 * The door's admission (authenticate.ts) with the audit trail's part: a caller refused a route that
 * changes something (403: it authenticated, but the route is not for it) is recorded, by its own
 * name; a request refused for want of an accepted token (401) is only counted (audit.ts says why).
 */
import { FabricError } from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";
import type { Tracker } from "../tracker.ts";
import { admitRequest } from "./authenticate.ts";
import { findRoute, type RouteRule } from "./authorization.ts";

export interface AdmissionRequest {
  method: string;
  path: string;
  authorization: string | null | undefined;
  /** Where it came from (client_address.ts). */
  address?: string | null;
}

export function admitAudited(tracker: Pick<Tracker, "authenticate" | "audit">, request: AdmissionRequest) {
  let principal: Principal | null = null;
  const authenticating = { authenticate: (token: string) => (principal = tracker.authenticate(token)) };
  try {
    return admitRequest(authenticating, request);
  } catch (error) {
    if (error instanceof FabricError && error.code === "unauthorized") {
      tracker.audit.unauthenticated();
    } else if (principal !== null) {
      const rule = findRoute(request.method, request.path);
      if (rule?.audit) {
        const target = routeTarget(rule, request.path);
        tracker.audit.record({ principal, action: rule.audit, target, address: request.address, outcome: { error } });
      }
    }
    throw error;
  }
}

/** What a route acts on, by default: its path's parameter (an agent's, token's or secret's name, a job id). */
export function routeTarget(rule: RouteRule, path: string): string | null {
  const pattern = rule.path.split("/");
  const segments = path.split("/");
  const at = pattern.findIndex((part) => part.startsWith(":"));
  if (at < 0 || segments[at] === undefined) return null;
  try {
    return decodeURIComponent(segments[at]);
  } catch {
    return segments[at];
  }
}
