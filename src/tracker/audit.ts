/**
 * The audit trail: every change asked for through the API or the dashboard, by whom, on what, from
 * where, and how it ended. The actor is always the authenticated caller's (a Principal), never
 * anything a request says about itself. Entries go through the store writer's batches, so they share
 * the tracker's write path and its lease's fence; retention deletes them after `--audit-retention`.
 *
 * What is kept is bounded: every text is cut at AUDIT_FIELD_CHARS (and says so), control characters
 * are replaced, and nothing of a request's body is kept but what a route hands over on purpose (a job's
 * name, a token's name and role): never a secret's value nor a token. A request refused for want of an
 * accepted token (401) is not recorded, or a stranger could fill the disk one request at a time: it is
 * counted in a metric instead.
 */
import {
  AUDIT_FIELD_CHARS,
  type AuditEntry,
  type AuditResponse,
  type Clock,
  FabricError,
  MAX_AUDIT_PAGE,
} from "../protocol/mod.ts";
import type { AuditQuery, StoredAuditRecord } from "../store/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Principal } from "./credentials.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";

/** What a route says about a change it was asked for. */
export interface AuditEvent {
  principal: Principal;
  action: string;
  target?: string | null;
  detail?: string | null;
  address?: string | null;
  /** "ok", or the error the caller was answered with. */
  outcome: "ok" | { error: unknown };
}

export interface AuditTrailOptions {
  store: Pick<Store, "listAudit">;
  writer: StoreWriter;
  clock: Clock;
  metrics: TrackerMetrics;
  /** An agent's name from its id (an agent's credential on a route it may not call is recorded by name). */
  agentName: (agentId: string) => string | undefined;
}

export class AuditTrail {
  #options: AuditTrailOptions;

  constructor(options: AuditTrailOptions) {
    this.#options = options;
  }

  /** Record one change asked for; never throws (an entry the store refuses is retried with the batch it is in). */
  record(event: AuditEvent): void {
    const { writer, clock, metrics } = this.#options;
    const actor = this.#actor(event.principal);
    writer.audit({
      at: clock.now(),
      actor: bounded(actor.name)!,
      role: actor.role,
      action: bounded(event.action)!,
      target: bounded(event.target ?? null),
      detail: bounded(event.detail ?? null),
      address: bounded(event.address ?? null),
      outcome: event.outcome === "ok" ? "ok" : errorCode(event.outcome.error),
    });
    metrics.auditEntries.inc();
  }

  /** A request refused for want of an accepted token: counted, never stored one by one. */
  unauthenticated(): void {
    this.#options.metrics.unauthenticated.inc();
  }

  /** A page, newest first; what was recorded before the call is in it (the writer is flushed first). */
  async page(query: AuditQuery): Promise<AuditResponse> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_AUDIT_PAGE) {
      throw new FabricError("bad_request", `"limit" must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
    }
    await this.#options.writer.flush();
    // One more than asked: whether a next page exists, without a second query.
    const rows = await this.#options.store.listAudit({ ...query, limit: query.limit + 1 });
    const entries = rows.slice(0, query.limit).map(toEntry);
    const next = rows.length > query.limit ? entries[entries.length - 1].id : null;
    return { entries, next };
  }

  #actor(principal: Principal): { name: string; role: string | null } {
    switch (principal.kind) {
      case "client":
        return { name: principal.name, role: principal.role };
      case "join":
        return { name: "join token", role: null };
      case "agent":
        return { name: `agent ${this.#options.agentName(principal.agentId) ?? principal.agentId}`, role: null };
    }
  }
}

/** The error code a caller was answered with ("internal" for anything that is not a FabricError). */
export function errorCode(error: unknown): string {
  return error instanceof FabricError ? error.code : "internal";
}

// Control characters would break a line of `fabric audit` or a log; the regex is about them on purpose.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` as an entry keeps it: control characters replaced, cut at AUDIT_FIELD_CHARS, saying so. */
export function bounded(text: string | null): string | null {
  if (text === null) return null;
  const clean = text.replace(CONTROL, "\uFFFD");
  if (clean.length <= AUDIT_FIELD_CHARS) return clean;
  return `${clean.slice(0, AUDIT_FIELD_CHARS)}… [cut: ${clean.length} characters]`;
}

function toEntry(record: StoredAuditRecord): AuditEntry {
  return { ...record, at: new Date(record.at).toISOString() };
}
