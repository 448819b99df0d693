/**
 * Client tokens on the wire: their roles, how one is asked for, and how a list shows them. A role
 * includes every role below it: `read` (every GET), `submit` (submit, cancel its own jobs), `operator`
 * (cancel any job, drain, resume and weigh agents) and `admin` (everything: tokens, agents' credentials).
 */
import { z } from "zod";

/** Lowest first: each role may do what the ones before it may. */
export const ROLES = ["read", "submit", "operator", "admin"] as const;
export type Role = typeof ROLES[number];

/** Whether a token with role `has` may do what needs role `needs`. */
export function roleIncludes(has: Role, needs: Role): boolean {
  return ROLES.indexOf(has) >= ROLES.indexOf(needs);
}

/** Names are shown in lists and errors and recorded with jobs: plain, short, and safe on a terminal. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The longest a token may live: far past any timer's range, since expiry is only ever compared. */
export const MAX_TOKEN_LIFETIME_MS = 3650 * 86_400_000;

export const tokenNameSchema = z.string().regex(
  TOKEN_NAME,
  "a token name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
);

export const createTokenRequestSchema = z.object({
  name: tokenNameSchema,
  role: z.enum(ROLES),
  /** From now; omitted: the token does not expire. */
  expiresInMs: z.number().int().min(1000).max(MAX_TOKEN_LIFETIME_MS).optional(),
});
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;

export interface CreateTokenResponse {
  name: string;
  role: Role;
  /** The secret itself: shown this once, never stored. */
  token: string;
  expiresAt: string | null;
}

/** active, or refused since it expired or was revoked. */
export type TokenState = "active" | "expired" | "revoked";

/** A token as `fabric token list` shows it: never its secret, nor its hash. */
export interface TokenView {
  name: string;
  role: Role;
  state: TokenState;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** To the minute: a token's use is written at most once a minute. */
  lastUsedAt: string | null;
}

export interface RotateJoinTokenResponse {
  /** The new join token; the old one is refused from now on. */
  token: string;
}
