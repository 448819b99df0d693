/**
 * The audit trail (`GET /v1/audit`, `fabric audit`): who changed what through the API, when, from where,
 * and how it ended. The actor is the authenticated caller's, never a request's field.
 */
import { parseDuration } from "./duration.ts";

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

const ISO_DAY_OR_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `--since` (and the dashboard's filter): a duration back from `now` ("2h", "7d", at most `maxMs`), or
 * a day or time ("2026-12-01", "2026-12-01T09:30:00Z"). A RangeError saying what it takes otherwise.
 */
export function parseSince(text: string, now: number, maxMs: number): number {
  const trimmed = text.trim();
  const taking = `a duration ("2h", "7d", at most ${maxMs / 86_400_000}d) or a time (2026-12-01 or ` +
    `2026-12-01T09:30:00Z), got "${text.slice(0, 64)}"`;
  if (ISO_DAY_OR_TIME.test(trimmed)) {
    const at = Date.parse(trimmed.replace(" ", "T"));
    if (Number.isNaN(at)) throw new RangeError(`takes ${taking}: not a valid date`);
    return at;
  }
  try {
    return Math.max(0, now - parseDuration(trimmed, maxMs));
  } catch (error) {
    throw new RangeError(`takes ${taking}: ${(error as Error).message}`);
  }
}
