/**
 * `/audit`: the audit trail (audit.ts), newest first, filtered by time, actor and action, a page at a
 * time (by entry id, as `fabric audit` pages); the admin's alone, as GET /v1/audit.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import { AUDIT_FIELD_CHARS, type AuditEntry, FabricError, MAX_RETENTION_MS, parseSince } from "../../protocol/mod.ts";
import type { PageContext } from "./context.ts";
import { ago } from "./format.ts";
import { Layout } from "./layout.tsx";
import { liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href, PAGE_SIZE, textParam, wholeNumber } from "./params.ts";
import { Head } from "./widgets.tsx";

/** How often the newest page asks again (an older page does not change). */
const AUDIT_EVERY_MS = 5000;

export async function auditPage(c: Context, { tracker, caller }: PageContext): Promise<Response> {
  // "from", not "since": the live script adds its own `since` (live.tsx).
  const sinceText = textParam(c, "from", 64);
  const actor = textParam(c, "actor", AUDIT_FIELD_CHARS);
  const action = textParam(c, "action", AUDIT_FIELD_CHARS);
  const before = wholeNumber(c, "before", 1, Number.MAX_SAFE_INTEGER) ?? undefined;
  let since: number | undefined;
  if (sinceText !== undefined) {
    try {
      since = parseSince(sinceText, tracker.clock.now(), MAX_RETENTION_MS);
    } catch (error) {
      throw new FabricError("bad_request", `"from" ${(error as Error).message}`);
    }
  }
  const { entries, next } = await tracker.audit.page({ since, actor, actionPrefix: action, before, limit: PAGE_SIZE });
  const filters = { from: sinceText, actor, action };
  const body = (
    <>
      <AuditTable entries={entries} now={tracker.clock.now()} filtered={since !== undefined || !!actor || !!action} />
      <nav class="pager">
        {before !== undefined ? <a href={href("/audit", filters)} rel="first">← Newest</a> : <span />}
        <span />
        {next !== null ? <a href={href("/audit", { ...filters, before: next })} rel="next">Older →</a> : <span />}
      </nav>
    </>
  );
  const region = before === undefined
    ? await liveRegion(body, { url: href("/audit", { ...filters, fragment: 1 }), everyMs: AUDIT_EVERY_MS })
    : null;
  if (region && wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title="Audit" caller={caller}>
      <h1>Audit trail</h1>
      <form class="filter" method="get" action="/audit">
        <label>
          Since <input type="search" name="from" value={sinceText ?? ""} placeholder="1d, 2026-12-01" maxlength={64} />
        </label>
        <label>
          Actor <input type="search" name="actor" value={actor ?? ""} placeholder="a token's name" maxlength={200} />
        </label>
        <label>
          Action{" "}
          <input type="search" name="action" value={action ?? ""} placeholder="job. or token.revoke" maxlength={200} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {region ? raw(region.html) : body}
    </Layout>,
  );
}

function AuditTable(props: { entries: AuditEntry[]; now: number; filtered: boolean }) {
  if (props.entries.length === 0) {
    return <p class="empty">{props.filtered ? "No entry matches." : "Nothing has been changed yet."}</p>;
  }
  return (
    <table class="audit">
      <Head columns={["When", "Actor", "Action", "Target", "Outcome", "From", "Detail"]} />
      <tbody>
        {props.entries.map((entry) => (
          <tr data-audit={entry.id}>
            <td>
              <time datetime={entry.at} title={entry.at}>{ago(entry.at, props.now)}</time>
            </td>
            <td>{entry.actor} {entry.role && <span class="id">{entry.role}</span>}</td>
            <td>{entry.action}</td>
            <td>{entry.target ?? "-"}</td>
            <td>
              <span class={`state state-${entry.outcome === "ok" ? "succeeded" : "failed"}`}>{entry.outcome}</span>
            </td>
            <td>{entry.address ?? "-"}</td>
            <td>{entry.detail ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
