/** `/periodic`: every periodic job with its schedule, next run, last run and its result, and why a time launched nothing. */
import type { Context } from "hono";
import { raw } from "hono/html";
import type { PeriodicView } from "../../protocol/mod.ts";
import type { PageContext } from "./context.ts";
import { ago } from "./format.ts";
import { Layout } from "./layout.tsx";
import { liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href } from "./params.ts";
import { Head, State } from "./widgets.tsx";

/** Runs come every few seconds at most (a six-field schedule): the list is asked for again this often. */
const PERIODIC_EVERY_MS = 2000;

export async function periodicPage(c: Context, { tracker, caller }: PageContext): Promise<Response> {
  const periodic = await tracker.periodic.list();
  const region = await liveRegion(<PeriodicTable periodic={periodic} now={tracker.clock.now()} />, {
    url: href("/periodic", { fragment: 1 }),
    everyMs: PERIODIC_EVERY_MS,
  });
  if (wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title="Periodic jobs" caller={caller}>
      <h1>Periodic jobs</h1>
      {raw(region.html)}
    </Layout>,
  );
}

function PeriodicTable(props: { periodic: PeriodicView[]; now: number }) {
  if (props.periodic.length === 0) {
    return (
      <p class="empty">
        No periodic job yet: <code>fabric submit</code> of a job file with <code>schedule:</code> registers one.
      </p>
    );
  }
  return (
    <table class="periodic">
      <Head columns={["Periodic job", "Schedule", "Next run", "Last run", "Result", "Note"]} />
      <tbody>
        {props.periodic.map((p) => (
          <tr data-periodic={p.name}>
            <td>
              {p.name} {p.paused && <span class="label">paused</span>}
            </td>
            <td>
              <code>{p.schedule}</code> {p.timezone}, overlap {p.overlap}
            </td>
            <td>
              <time datetime={p.nextRuns[0] ?? ""}>{p.nextRuns[0] ?? "-"}</time>
            </td>
            <td>
              {p.lastRun
                ? <a href={`/jobs/${encodeURIComponent(p.lastRun.jobId)}`}>{p.lastRun.name ?? p.lastRun.jobId}</a>
                : "-"}
              {p.lastRun?.scheduledAt && <>, for {ago(p.lastRun.scheduledAt, props.now)}</>}
            </td>
            <td>{p.lastRun ? <State state={p.lastRun.state ?? "gone"} /> : "-"}</td>
            <td>{p.note ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
