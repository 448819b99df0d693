/**
 * Dashboard sessions, in the tracker's memory only. The cookie carries a random session id, never the
 * token: a stolen cookie is not a token for the API, and it dies with the session (sign-out, expiry, a
 * tracker restart). The session keeps the token it was opened with, and every request authenticates
 * that token again, so a session ends the moment its token stops being accepted (revoked, expired).
 */
import { hashToken, newToken } from "../auth.ts";

export interface Session {
  /** The token typed into the sign-in form: authenticated again on every request. */
  token: string;
  /** Sent back with every form of this session (the CSRF check). */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** Sessions held at once; past it the one unused longest is ended. */
  max: number;
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, however much it is used. */
  maxAgeMs: number;
}

export const SESSION_LIMITS: SessionLimits = { max: 1000, idleMs: 12 * 3_600_000, maxAgeMs: 7 * 86_400_000 };

export class Sessions {
  /** By the SHA-256 of the session id (the id itself is kept nowhere), least recently used first. */
  #byHash = new Map<string, Session>();
  #now: () => number;
  #limits: SessionLimits;

  constructor(now: () => number, limits: SessionLimits = SESSION_LIMITS) {
    this.#now = now;
    this.#limits = limits;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** A new session for `token` (already authenticated by the caller): its id, for the cookie. */
  open(token: string): { id: string; session: Session } {
    const now = this.#now();
    this.#sweep(now);
    // Bounded: a full table ends the session unused longest (the first in the map's order).
    while (this.#byHash.size >= this.#limits.max) {
      this.#byHash.delete(this.#byHash.keys().next().value!);
    }
    const id = newToken("fabric-session");
    const session: Session = { token, csrf: newToken("fabric-csrf"), createdAt: now, lastSeenAt: now };
    this.#byHash.set(hashToken(id), session);
    return { id, session };
  }

  /** The live session with this id (and it counts as used now), or null. */
  find(id: string): Session | null {
    const key = hashToken(id);
    const session = this.#byHash.get(key);
    if (!session) return null;
    const now = this.#now();
    if (this.#expired(session, now)) {
      this.#byHash.delete(key);
      return null;
    }
    session.lastSeenAt = now;
    // Moved to the end: the map stays ordered by last use.
    this.#byHash.delete(key);
    this.#byHash.set(key, session);
    return session;
  }

  close(id: string): void {
    this.#byHash.delete(hashToken(id));
  }

  #expired(session: Session, now: number): boolean {
    return now - session.lastSeenAt > this.#limits.idleMs || now - session.createdAt > this.#limits.maxAgeMs;
  }

  /** Ends expired sessions, oldest use first; stops at the first live one (the rest were used later). */
  #sweep(now: number): void {
    for (const [key, session] of this.#byHash) {
      if (!this.#expired(session, now)) break;
      this.#byHash.delete(key);
    }
  }
}
