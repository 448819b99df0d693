/**
 * Where a request came from, as the audit trail records it: the connection's own address, which no
 * request can change. A request a follower passed on (forwarding.ts) comes from the follower, so the
 * follower names its own caller in FORWARDED_FOR_HEADER: kept as `CLIENT via FOLLOWER`, with the
 * follower's connection address always there (a client that sends the header itself only adds a
 * claim beside its real address).
 */

/** Set by a follower on a request it forwards (forwarding.ts): its own name. */
export const FORWARDED_HEADER = "x-fabric-forwarded-by";
/** Set by the HTTPS layer on every request it hands to the routes (a client's own is replaced). */
export const PEER_HEADER = "x-fabric-peer";
/**
 * Set by a follower on a request it forwards: the host its caller asked for, which a browser's Origin
 * names (dashboard/caller.ts's origin check). Trusting it is safe there: a page of another site cannot
 * make a browser send a header of its own with a form, and only browsers are what that check is for.
 */
export const FORWARDED_HOST_HEADER = "x-fabric-forwarded-host";
/** Set by a follower on a request it forwards: its caller's address. */
export const FORWARDED_FOR_HEADER = "x-fabric-forwarded-for";

/** The longest address a claimed forwarded-for keeps (an IPv6 address with a zone is well under it). */
const MAX_CLAIMED = 64;

type Headers = Record<string, string | string[] | undefined>;

/** `socketAddress`, or `CLIENT via socketAddress` for a request a follower forwarded. */
export function clientAddress(socketAddress: string | undefined, headers: Headers): string | null {
  const peer = socketAddress ?? null;
  const forwarded = one(headers[FORWARDED_HEADER]);
  const claimed = one(headers[FORWARDED_FOR_HEADER]);
  if (forwarded === undefined || claimed === undefined || peer === null) return peer;
  return `${claimed.slice(0, MAX_CLAIMED)} via ${peer}`;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
