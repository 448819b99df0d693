/** `/`: the jobs, newest first, filtered by state and by a part of the name, a page at a time. */
import type { Context } from "hono";
import { JOB_STATES, type JobState, type JobSummary } from "../../protocol/mod.ts";
import { listJobsPage } from "../queries.ts";
import { ago, between } from "./format.ts";
import { liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href, PAGE_SIZE, pageParam, stateParam, textParam } from "./params.ts";
import type { PageContext } from "./context.ts";
import { Layout } from "./layout.tsx";
import { raw } from "hono/html";
import { Head, Pager, ProgressBar, State, summary } from "./widgets.tsx";

/** How often an open list asks again. */
const LIST_EVERY_MS = 2000;

export async function jobsPage(c: Context, { tracker, caller }: PageContext): Promise<Response> {
  const state = stateParam<JobState>(c, JOB_STATES);
  const name = textParam(c, "name", 200);
  const { page, offset } = pageParam(c);
  const rows = await listJobsPage(tracker, { state, nameContains: name, offset, limit: PAGE_SIZE + 1 });
  const jobs = rows.slice(0, PAGE_SIZE);
  const filters = { state, name };
  const pageHref = (n: number) => href("/", { ...filters, page: n > 1 ? n : undefined });
  const region = await liveRegion(
    <>
      <JobsTable jobs={jobs} now={tracker.clock.now()} filtered={state !== undefined || name !== undefined} />
      <Pager page={page} hasNext={rows.length > PAGE_SIZE} href={pageHref} prev="← Newer" next="Older →" />
    </>,
    { url: href("/", { ...filters, page: page > 1 ? page : undefined, fragment: 1 }), everyMs: LIST_EVERY_MS },
  );
  if (wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title="Jobs" caller={caller}>
      <h1>Jobs</h1>
      <form class="filter" method="get" action="/">
        <label>
          State{" "}
          <select name="state">
            <option value="">all</option>
            {JOB_STATES.map((s) => <option value={s} selected={s === state}>{s}</option>)}
          </select>
        </label>
        <label>
          Name <input type="search" name="name" value={name ?? ""} placeholder="part of a name" maxlength={200} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {raw(region.html)}
    </Layout>,
  );
}

function JobsTable(props: { jobs: JobSummary[]; now: number; filtered: boolean }) {
  if (props.jobs.length === 0) {
    if (props.filtered) return <p class="empty">No job matches.</p>;
    return (
      <p class="empty">
        No jobs yet: <code>fabric submit JOB.yaml</code> sends one.
      </p>
    );
  }
  return (
    <table class="jobs">
      <Head columns={["Job", "State", "Progress", "Tasks", "Submitted", "Ran for"]} />
      <tbody>
        {props.jobs.map((job) => (
          <tr>
            <td>
              <a href={`/jobs/${encodeURIComponent(job.id)}`}>{job.name}</a> <span class="id">{job.id}</span>
            </td>
            <td>
              <State state={job.state} note={job.cancelling ? "cancelling" : null} />
            </td>
            <td>
              <ProgressBar counts={job.counts} total={job.total} />
            </td>
            <td class="counts">{summary(job.counts)}</td>
            <td>
              <time datetime={job.createdAt} title={job.createdAt}>{ago(job.createdAt, props.now)}</time>
            </td>
            <td>{between(job.createdAt, job.finishedAt, props.now)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
