/**
 * What a signed-in principal may do from the dashboard: the one question every page and button asks,
 * so that token roles (admin, operator, submit, read) plug in here and nowhere else.
 */
import { FabricError } from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";

/** view: every page; cancel and rerun: a job; drain: drain and resume an agent. */
export type DashboardAction = "view" | "cancel" | "rerun" | "drain";

const DOING: Record<DashboardAction, string> = {
  view: "Viewing the dashboard",
  cancel: "Cancelling a job",
  rerun: "Re-running a job",
  drain: "Draining or resuming an agent",
};

/** Until tokens have roles, the admin token may do everything, and nothing else may use the dashboard. */
export function may(principal: Principal, _action: DashboardAction): boolean {
  return principal.kind === "admin";
}

/** A FabricError ("forbidden") unless `principal` may do `action`. */
export function mustBeAllowed(principal: Principal, action: DashboardAction): void {
  if (may(principal, action)) return;
  throw new FabricError("forbidden", `${DOING[action]} needs the admin token; a${an(principal.kind)} token was given`);
}

function an(kind: Principal["kind"]): string {
  return kind === "admin" || kind === "agent" ? `n ${kind}` : ` ${kind}`;
}
