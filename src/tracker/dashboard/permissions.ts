/**
 * What a signed-in principal may do from the dashboard: the one question every page and button asks.
 * Each action needs what its API route needs (http/authorization.ts, the one table of roles), so a
 * token may do the same from a browser as from the CLI, and nothing more.
 */
import { FabricError } from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";
import { authorize, authorizeOwned, type ClientNeed, ROUTES } from "../http/authorization.ts";

/**
 * view: every page but the audit's; download: a task's artifact; cancel and rerun: a job; drain: drain
 * and resume an agent; audit: its page.
 */
export type DashboardAction = "view" | "download" | "cancel" | "rerun" | "drain" | "audit";

/** The role of the API route that does the same, with what the dashboard calls it. */
const NEEDS: Record<DashboardAction, ClientNeed> = {
  view: { ...ROUTES.listJobs.need, action: "viewing the dashboard" },
  // The blob's own route, for a client's token alone (a browser never holds an agent's credential).
  download: { who: "client", role: ROUTES.readBlobChunk.need.role, action: "downloading an artifact" },
  cancel: ROUTES.cancelJob.need,
  rerun: ROUTES.rerunJob.need,
  drain: { ...ROUTES.drainAgent.need, action: "draining or resuming an agent" },
  audit: ROUTES.listAudit.need,
};

/**
 * Whether `principal` may do `action`; for an action on a job, `owner` is the name of the token that
 * submitted it (a submit token cancels only its own jobs).
 */
export function may(principal: Principal, action: DashboardAction, owner?: string | null): boolean {
  try {
    mustBeAllowed(principal, action, owner);
    return true;
  } catch (error) {
    if (error instanceof FabricError && error.code === "forbidden") return false;
    throw error;
  }
}

/** A FabricError ("forbidden") naming the role `action` needs, unless `principal` may do it. */
export function mustBeAllowed(principal: Principal, action: DashboardAction, owner?: string | null): void {
  authorize(principal, NEEDS[action]);
  if (owner !== undefined) authorizeOwned(principal, NEEDS[action], owner);
}

/** How the dashboard's log names a principal that signed in. */
export function describePrincipal(principal: Principal): string {
  return principal.kind === "client" ? `token "${principal.name}" (${principal.role})` : `the ${principal.kind} token`;
}
