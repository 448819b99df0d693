/**
 * Who may use a secret. A job is given a secret only if the client token that submitted it may use
 * it: its role is the secret's `role:R` or above, or the token is named by the secret's `token:NAME`;
 * an admin token always may (it can change any secret's rule anyway). The join token and agents'
 * credentials never submit, so never use one. Whoever may use a secret can read it (a task can print
 * it encoded past any mask), so the rule is the protection, the mask is not.
 */
import { type Role, roleIncludes, ROLES } from "../protocol/mod.ts";
import type { Principal } from "./credentials.ts";

/** Who submits a job, as a secret's rule sees them: the token's name and its role. */
export interface Submitter {
  name: string;
  role: Role;
}

/** A job submitted by the tracker's own caller in its process (tests), not through the API. */
export const TRACKER_ITSELF: Submitter = Object.freeze({ name: "(the tracker itself)", role: "admin" });

/** The submitter a request's principal is: a client token's name and role; null for any other. */
export function submitterOf(principal: Principal): Submitter | null {
  return principal.kind === "client" ? { name: principal.name, role: principal.role } : null;
}

/** Whether `submitter` may use a secret whose rule is `allow` (stored entries: `role:R`, `token:NAME`). */
export function mayUseSecret(allow: readonly string[], submitter: Submitter): boolean {
  if (submitter.role === "admin") return true;
  return allow.some((entry) => {
    if (entry === `token:${submitter.name}`) return true;
    if (!entry.startsWith("role:")) return false;
    const needed = entry.slice(5) as Role;
    return (ROLES as readonly string[]).includes(needed) && roleIncludes(submitter.role, needed);
  });
}

/** The rule in words: `the operator role (or above), the token "ci"`. */
export function describeAllow(allow: readonly string[]): string {
  const parts = allow.map((entry) =>
    entry.startsWith("role:") ? `the ${entry.slice(5)} role (or above)` : `the token "${entry.slice(6)}"`
  );
  return parts.length === 0 ? "the admin only" : parts.join(", ");
}
