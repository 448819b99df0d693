/**
 * Who is calling and whether they may, from the request line and the Authorization header alone: the
 * one check every request makes, before any body is read.
 */
import { FabricError } from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";
import type { Tracker } from "../tracker.ts";
import { authorize, findRoute } from "./authorization.ts";

/** The caller of a request, or a FabricError ("unauthorized") saying what is wrong with its token. */
export function authenticate(
  tracker: Pick<Tracker, "authenticate">,
  authorization: string | null | undefined,
): Principal {
  const token = authorization?.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
  if (!token) throw new FabricError("unauthorized", "A token is required (Authorization: Bearer TOKEN)");
  return tracker.authenticate(token);
}

/**
 * The caller of `method path`, once it is found to be allowed the route (authorization.ts): null for a
 * route anyone may call, or a path neither in the API nor in the table (the dashboard's pages, which
 * check their own session). A FabricError otherwise: 401 for a token that is missing or refused, 403
 * for a caller the route is not for, 404 for an API path no route has.
 */
export function admitRequest(
  tracker: Pick<Tracker, "authenticate">,
  request: { method: string; path: string; authorization: string | null | undefined },
): Principal | null {
  const rule = findRoute(request.method, request.path);
  if (!rule && !request.path.startsWith("/v1/")) return null;
  if (rule?.need.who === "anyone") return null;
  const principal = authenticate(tracker, request.authorization);
  if (!rule) throw new FabricError("not_found", `No route ${request.method} ${request.path}`);
  authorize(principal, rule.need);
  return principal;
}
