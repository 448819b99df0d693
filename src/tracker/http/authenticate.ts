/** Who is calling, from the Authorization header alone: the one check every route but the CA's makes. */
import { FabricError } from "../../protocol/mod.ts";
import type { Principal, Tracker } from "../tracker.ts";

/** The caller of a request, or a FabricError ("unauthorized") saying what is wrong with its token. */
export function authenticate(
  tracker: Pick<Tracker, "authenticate">,
  authorization: string | null | undefined,
): Principal {
  const token = authorization?.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
  if (!token) throw new FabricError("unauthorized", "A token is required (Authorization: Bearer TOKEN)");
  const principal = tracker.authenticate(token);
  if (!principal) throw new FabricError("unauthorized", "The token was not accepted by this tracker");
  return principal;
}
