/**
 * The audit trail (`GET /v1/audit`, `fabric audit`): who changed what through the API, when, from where,
 * and how it ended. The actor is the authenticated caller's, never a request's field.
 */

/** One change asked for, as the tracker recorded it. */
export interface AuditEntry {
  /** Increasing in the order entries were recorded: the page after a page starts below its last. */
  id: number;
  /** ISO time the tracker answered. */
  at: string;
  /** The token's name, or "join token" for the join token. */
  actor: string;
  /** The token's role (null for the join token). */
  role: string | null;
  /** A stable name: job.submit, agent.drain, token.create, ... */
  action: string;
  /** What it acted on: a job id, an agent's, token's or secret's name (never a secret's value); null for none. */
  target: string | null;
  /** More about it, e.g. a submitted job's name or a rerun's new job id; null for nothing. */
  detail: string | null;
  /** The address the request came from (`CLIENT via TRACKER` when a follower passed it on). */
  address: string | null;
  /** "ok", or the error code the caller was answered with (forbidden, bad_request, not_found, ...). */
  outcome: string;
}

export interface AuditResponse {
  entries: AuditEntry[];
  /** Pass as `before` for the next (older) page; null when this page is the last. */
  next: number | null;
}

/** Entries one page holds at most. */
export const MAX_AUDIT_PAGE = 1000;
/** The longest text an entry keeps in a field; longer is cut and says so. */
export const AUDIT_FIELD_CHARS = 200;
