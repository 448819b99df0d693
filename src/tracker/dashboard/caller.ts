/**
 * Who calls a dashboard page: a script with its own bearer token, or a browser signed in with a
 * session cookie. Either way the token goes through the one `authenticate` of the HTTP boundary, on
 * every request. A form a browser posts must also come from this dashboard: its Origin, when the
 * browser sends one, is ours, and it carries its session's CSRF token (the cookie is SameSite=Strict
 * besides). A bearer request needs neither: a browser never attaches one by itself.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { FabricError } from "../../protocol/mod.ts";
import { hashesEqual, hashToken } from "../auth.ts";
import type { Principal } from "../credentials.ts";
import { authenticate } from "../http/authenticate.ts";
import { FORWARDED_HOST_HEADER } from "../http/client_address.ts";
import type { Tracker } from "../tracker.ts";
import type { Session, Sessions } from "./sessions.ts";

/** With the `__Host-` prefix: Secure, Path=/ and no Domain, or the browser refuses to keep it. */
const COOKIE = "fabric_session";

export interface Caller {
  principal: Principal;
  /** A signed-in browser's session; null for a request that brought its own bearer token. */
  session: Session | null;
  sessionId: string | null;
  /**
   * Whether the token (and the session) is still accepted: an answer that goes on for long (a followed
   * log, a long poll) asks again before it sends more, so that nothing reaches a caller signed out since.
   */
  stillAccepted(): boolean;
}

/** The caller, null for a browser that is not signed in (or whose session or token ended); a 401 for a bad bearer token. */
export function findCaller(
  c: Context,
  { tracker, sessions }: { tracker: Pick<Tracker, "authenticate">; sessions: Sessions },
): Caller | null {
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const principal = authenticate(tracker, authorization);
    const stillAccepted = () => accepted(tracker, authorization);
    return { principal, session: null, sessionId: null, stillAccepted };
  }
  const id = getCookie(c, COOKIE, "host");
  if (!id) return null;
  const session = sessions.find(id);
  if (!session) return null;
  try {
    const principal = authenticate(tracker, `Bearer ${session.token}`);
    const stillAccepted = () => sessions.find(id) === session && accepted(tracker, `Bearer ${session.token}`);
    return { principal, session, sessionId: id, stillAccepted };
  } catch (error) {
    if (!(error instanceof FabricError) || error.code !== "unauthorized") throw error;
    // The token is no longer accepted (revoked, expired): its session ends with it.
    sessions.close(id);
    return null;
  }
}

function accepted(tracker: Pick<Tracker, "authenticate">, authorization: string): boolean {
  try {
    authenticate(tracker, authorization);
    return true;
  } catch {
    return false;
  }
}

export function setSessionCookie(c: Context, id: string): void {
  setCookie(c, COOKIE, id, { path: "/", secure: true, httpOnly: true, sameSite: "Strict", prefix: "host" });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict", prefix: "host" });
}

/** The session id of a request's cookie, whether or not it is still a session. */
export function sessionIdOf(c: Context): string | null {
  return getCookie(c, COOKIE, "host") ?? null;
}

/**
 * A form posted from another site is refused: browsers name the page's origin on every POST. A page
 * served through a follower (forwarded here) is that follower's origin, which it names.
 */
export function checkOrigin(c: Context): void {
  const origin = c.req.header("origin");
  if (origin === undefined) return; // not a browser, or one that hides it: the CSRF token still decides
  const forwardedHost = c.req.header(FORWARDED_HOST_HEADER);
  const follower = forwardedHost ? `https://${forwardedHost}` : null;
  if (origin !== new URL(c.req.url).origin && origin !== follower) {
    throw new FabricError("forbidden", `A form posted from another site ("${origin}") is refused`);
  }
}

/** A browser's form must come from this dashboard, with its session's CSRF token; a bearer request needs neither. */
export function checkForm(c: Context, { caller, form }: { caller: Caller; form: Record<string, unknown> }): void {
  if (!caller.session) return;
  checkOrigin(c);
  const sent = form.csrf;
  if (typeof sent !== "string" || !hashesEqual(hashToken(sent), hashToken(caller.session.csrf))) {
    throw new FabricError(
      "forbidden",
      "This form did not come from this dashboard's page (its CSRF token is missing or stale): reload the page and try again",
    );
  }
}
