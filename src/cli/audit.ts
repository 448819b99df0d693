/** `fabric audit [--since DURATION|TIME] [--actor NAME] [--action PREFIX] [--limit N] [--json]` */
import type { AuditEntry } from "../protocol/audit.ts";
import { AUDIT_FIELD_CHARS, MAX_AUDIT_PAGE, parseSince } from "../protocol/audit.ts";
import { MAX_RETENTION_MS } from "../protocol/limits.ts";
import { intFlag, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { printJson, table } from "./output.ts";

const USAGE = `
fabric audit [--since DURATION|TIME] [--actor NAME] [--action PREFIX] [--limit N] [--json]

The audit trail: every change asked for through the API or the dashboard (submit, cancel, rerun,
drain, resume, weight, approve, remove, token create and revoke, join token rotation, secret set and
delete, gc, an agent's registration), newest first: when, who (the token's name and role, never
anything the request says about itself), what, on what (a job id, an agent's, token's or secret's
name; never a secret's value or a token), from which address, and how it ended (ok, or the error, e.g.
forbidden). Refused attempts are there too; requests without an accepted token are only counted (the
metric fabric_unauthenticated_requests_total). Needs an admin token.

  --since DURATION|TIME  entries from this long ago ("2h", "7d") or from this time (2026-12-01,
                         2026-12-01T09:30:00Z)
  --actor NAME           entries of this token only ("join token": agents' registrations)
  --action PREFIX        entries whose action starts with this ("job." or "token.revoke")
  --limit N              at most N entries (default 50, at most 100000)
  --json                 the entries as a JSON array, for export (fields: id, at, actor, role, action,
                         target, detail, address, outcome)
${CONNECTION_HELP}
`;

const MAX_LIMIT = 100_000;

export async function auditCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("audit", args, {
    ...CONNECTION_FLAGS,
    since: { type: "string" },
    actor: { type: "string" },
    action: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`fabric audit takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const since = sinceFlag(stringFlag(parsed, "since"), Date.now());
  const actor = textFlag(parsed, "actor");
  const action = textFlag(parsed, "action");
  const limit = intFlag(parsed, "limit", 1, MAX_LIMIT) ?? 50;
  const client = await connect(parsed);
  try {
    const entries: AuditEntry[] = [];
    let before: number | undefined;
    // Each page is at most MAX_AUDIT_PAGE entries: bounded by limit / MAX_AUDIT_PAGE + 1 requests.
    while (entries.length < limit) {
      const page = await client.audit({
        since,
        actor,
        action,
        before,
        limit: Math.min(MAX_AUDIT_PAGE, limit - entries.length),
      });
      entries.push(...page.entries);
      if (page.next === null) break;
      before = page.next;
    }
    if (parsed.values.json) return printJson(entries), 0;
    if (entries.length === 0) {
      console.log("No audit entries match.");
      return 0;
    }
    console.log(table(
      ["TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "FROM", "DETAIL"],
      entries.map((e) => [
        e.at.replace("T", " ").replace(/\.\d+Z$/, "Z"),
        e.role ? `${e.actor} (${e.role})` : e.actor,
        e.action,
        e.target ?? "-",
        e.outcome,
        e.address ?? "-",
        e.detail ?? "",
      ]),
    ));
    return 0;
  } finally {
    client.close();
  }
}

/** --since: a duration back from `now`, or a time (an ISO date, or date and time). */
export function sinceFlag(raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseSince(raw, now, MAX_RETENTION_MS);
  } catch (error) {
    throw new UsageError(`--since ${(error as Error).message}`);
  }
}

function textFlag(parsed: ReturnType<typeof parseFlags>, name: string): string | undefined {
  const value = stringFlag(parsed, name);
  if (value === undefined) return undefined;
  if (value === "" || value.length > AUDIT_FIELD_CHARS) {
    throw new UsageError(`--${name} takes 1 to ${AUDIT_FIELD_CHARS} characters, got ${value.length}`);
  }
  return value;
}
