/** Small pieces the pages share: a state, a job's progress bar, a button that posts a form, a pager. */
import type { TaskCounts } from "../../protocol/mod.ts";

export function State(props: { state: string; note?: string | null }) {
  return <span class={`state state-${props.state}`}>{props.state}{props.note ? ` (${props.note})` : ""}</span>;
}

/** The order and colours (style.css) of a job's counts, ended states first. */
const BAR: Array<keyof TaskCounts> = ["succeeded", "failed", "cancelled", "skipped", "running", "assigned", "lost"];

/** A job's tasks by state, as an SVG bar: an inline style would need 'unsafe-inline' in the CSP, SVG attributes do not. */
export function ProgressBar(props: { counts: TaskCounts; total: number }) {
  const total = Math.max(1, props.total);
  let x = 0;
  const parts = BAR.filter((state) => props.counts[state] > 0).map((state) => {
    const width = (props.counts[state] / total) * 100;
    const rect = <rect class={`bar-${state}`} x={x.toFixed(2)} y="0" width={width.toFixed(2)} height="8" />;
    x += width;
    return rect;
  });
  return (
    <svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label={summary(props.counts)}>
      <rect class="bar-queued" x="0" y="0" width="100" height="8" />
      {parts}
    </svg>
  );
}

/** "3 succeeded, 1 running" (states with no task left out). */
export function summary(counts: TaskCounts): string {
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`);
  return parts.length > 0 ? parts.join(", ") : "no tasks";
}

/** A button that posts a form (with the session's CSRF token); `confirm` asks first (live.js). */
export function PostButton(
  props: { action: string; csrf: string | null; label: string; class?: string; confirm?: string },
) {
  return (
    <form method="post" action={props.action} class={`inline ${props.class ?? ""}`} data-confirm={props.confirm}>
      {props.csrf !== null && <input type="hidden" name="csrf" value={props.csrf} />}
      <button type="submit">{props.label}</button>
    </form>
  );
}

/** Previous and next links; `href` makes a page's link (with the page's filters). */
export function Pager(
  props: { page: number; hasNext: boolean; href: (page: number) => string; prev?: string; next?: string },
) {
  if (props.page <= 1 && !props.hasNext) return null;
  return (
    <nav class="pager">
      {props.page > 1 ? <a href={props.href(props.page - 1)} rel="prev">{props.prev ?? "← Previous"}</a> : <span />}
      <span>page {props.page}</span>
      {props.hasNext ? <a href={props.href(props.page + 1)} rel="next">{props.next ?? "Next →"}</a> : <span />}
    </nav>
  );
}

/** A table's head row. */
export function Head(props: { columns: string[] }) {
  return (
    <thead>
      <tr>{props.columns.map((column) => <th>{column}</th>)}</tr>
    </thead>
  );
}
