/**
 * `/jobs/:id`: a job, its tasks a page at a time (filtered by state) with where each runs and why it
 * waits, its dependency graph, and its cancel button. The page follows the job's changes live.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import {
  isTerminalJob,
  type JobSummary,
  needNames,
  TASK_STATES,
  type TaskState,
  type TaskView,
  type WaitingNote,
} from "../../protocol/mod.ts";
import type { ArtifactTotals } from "../../store/mod.ts";
import { getJobPage, type JobPage, watchJob } from "../queries.ts";
import type { Caller } from "./caller.ts";
import type { PageContext } from "./context.ts";
import { DependencyGraph } from "./dependency_graph.tsx";
import { ago, between, bytes, took } from "./format.ts";
import { Layout } from "./layout.tsx";
import { LIVE_WAIT_MS, liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href, PAGE_SIZE, pageParam, stateParam, wholeNumber } from "./params.ts";
import { may } from "./permissions.ts";
import { Head, Pager, PostButton, ProgressBar, State, summary } from "./widgets.tsx";

export async function jobPage(c: Context, { tracker, caller, waiting: notes }: PageContext): Promise<Response> {
  const id = c.req.param("id")!;
  const state = stateParam<TaskState>(c, TASK_STATES);
  const { page, offset } = pageParam(c);
  if (wantsFragment(c)) {
    const since = wholeNumber(c, "since", 0, Number.MAX_SAFE_INTEGER);
    if (since !== null) await watchJob(tracker, id, since, LIVE_WAIT_MS, c.req.raw.signal);
  }
  const data = await getJobPage(tracker, id, { state, offset, limit: PAGE_SIZE + 1 });
  const artifacts = await tracker.store.jobArtifacts(id);
  const { job } = data;
  const waiting = isTerminalJob(job.state) || job.counts.queued + job.counts.lost === 0 ? [] : notes.of(id);
  const base = `/jobs/${encodeURIComponent(id)}`;
  const filters = { state, page: page > 1 ? page : undefined };
  const region = await liveRegion(
    <JobBody
      data={data}
      artifacts={artifacts}
      waiting={waiting}
      caller={caller}
      base={base}
      state={state}
      page={page}
      now={tracker.clock.now()}
    />,
    {
      url: href(base, { ...filters, fragment: 1 }),
      version: job.version,
      everyMs: 500,
      ended: isTerminalJob(job.state),
    },
  );
  if (wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title={`Job ${job.name}`} caller={caller}>
      <p class="crumbs">
        <a href="/">Jobs</a> /
      </p>
      <h1>
        {job.name} <span class="id">{job.id}</span>
      </h1>
      {raw(region.html)}
    </Layout>,
  );
}

interface BodyProps {
  data: JobPage;
  artifacts: ArtifactTotals;
  waiting: WaitingNote[];
  caller: Caller;
  base: string;
  state: TaskState | undefined;
  page: number;
  now: number;
}

function JobBody(props: BodyProps) {
  const { job, spec, templates } = props.data;
  const tasks = props.data.tasks.slice(0, PAGE_SIZE);
  return (
    <>
      <JobHeader job={job} artifacts={props.artifacts} now={props.now} />
      <JobActions job={job} caller={props.caller} base={props.base} />
      {props.waiting.length > 0 && <Waiting notes={props.waiting} />}
      <DependencyGraph tasks={spec.tasks.map((t) => ({ name: t.name, needs: needNames(t) }))} progress={templates} />
      <section>
        <h2>Tasks</h2>
        <StateFilter job={job} base={props.base} state={props.state} />
        <TasksTable tasks={tasks} now={props.now} />
        <Pager
          page={props.page}
          hasNext={props.data.tasks.length > PAGE_SIZE}
          href={(n) => href(props.base, { state: props.state, page: n > 1 ? n : undefined })}
        />
      </section>
    </>
  );
}

function JobHeader(props: { job: JobSummary; artifacts: ArtifactTotals; now: number }) {
  const { job } = props;
  return (
    <dl class="facts">
      <dt>State</dt>
      <dd>
        <State state={job.state} note={job.cancelling ? "cancelling" : null} />
      </dd>
      <dt>Progress</dt>
      <dd>
        <ProgressBar counts={job.counts} total={job.total} /> {summary(job.counts)} of {job.total}
      </dd>
      <dt>Submitted</dt>
      <dd>
        <time datetime={job.createdAt} title={job.createdAt}>{ago(job.createdAt, props.now)}</time>
      </dd>
      <dt>{job.finishedAt ? "Took" : "Running for"}</dt>
      <dd>{between(job.createdAt, job.finishedAt, props.now)}</dd>
      <dt>Artifacts</dt>
      <dd id="job-artifacts">
        {props.artifacts.count === 0
          ? "none kept"
          : `${props.artifacts.count} kept by its tasks (${bytes(props.artifacts.bytes)}): each on its task's page`}
      </dd>
      {job.signedBy && (
        <>
          <dt>Signed by</dt>
          <dd class="mono">{job.signedBy}</dd>
        </>
      )}
    </dl>
  );
}

function JobActions(props: { job: JobSummary; caller: Caller; base: string }) {
  const csrf = props.caller.session?.csrf ?? null;
  const cancellable = !isTerminalJob(props.job.state) && !props.job.cancelling &&
    may(props.caller.principal, "cancel", props.job.submittedBy);
  const rerunnable = may(props.caller.principal, "rerun", props.job.submittedBy);
  const c = props.job.counts;
  // A job that succeeded skipped only by its needs' conditions: nothing of it is to run again.
  const failedSome = isTerminalJob(props.job.state) && props.job.state !== "succeeded" && c.succeeded < props.job.total;
  return (
    <div class="actions">
      {cancellable && (
        <PostButton
          action={`${props.base}/cancel`}
          csrf={csrf}
          label="Cancel job"
          class="danger"
          confirm="Cancel this job? Its running tasks are stopped."
        />
      )}
      {rerunnable && (
        <PostButton
          action={`${props.base}/rerun`}
          csrf={csrf}
          label="Re-run job"
          confirm="Submit this job's file again, as a new job?"
        />
      )}
      {rerunnable && failedSome && (
        <PostButton
          action={`${props.base}/rerun?failed=1`}
          csrf={csrf}
          label="Re-run what did not succeed"
          confirm="Run again the tasks that failed, were lost, skipped or cancelled (what succeeded is carried over)?"
        />
      )}
    </div>
  );
}

function Waiting(props: { notes: WaitingNote[] }) {
  return (
    <section class="waiting">
      <h2>Why tasks wait</h2>
      <ul>
        {props.notes.map((note) => (
          <li>
            <strong>{note.tasks}</strong> {note.tasks === 1 ? "task" : "tasks"} (e.g.{" "}
            <a href={`/tasks/${encodeURIComponent(note.example.id)}`}>{note.example.name}</a>): {note.reason}
            {note.hint && <span class="hint">{note.hint}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function StateFilter(props: { job: JobSummary; base: string; state: TaskState | undefined }) {
  const states = TASK_STATES.filter((s) => props.job.counts[s] > 0 || s === props.state);
  return (
    <nav class="tabs">
      <a href={props.base} class={props.state === undefined ? "current" : ""}>all {props.job.total}</a>
      {states.map((s) => (
        <a href={href(props.base, { state: s })} class={props.state === s ? "current" : ""}>
          {s} {props.job.counts[s]}
        </a>
      ))}
    </nav>
  );
}

function TasksTable(props: { tasks: TaskView[]; now: number }) {
  if (props.tasks.length === 0) return <p class="empty">No task here.</p>;
  return (
    <table class="tasks">
      <Head columns={["Task", "State", "Agent", "Attempt", "Exit", "Duration", "Why"]} />
      <tbody>
        {props.tasks.map((task) => (
          <tr>
            <td>
              <a href={`/tasks/${encodeURIComponent(task.id)}`}>{task.name}</a>
            </td>
            <td>
              <State state={task.state} />
            </td>
            <td>{task.agent ?? "-"}</td>
            <td>{task.attempt}</td>
            <td>{exit(task)}</td>
            <td>{task.durationMs !== null ? took(task.durationMs) : between(task.startedAt, null, props.now)}</td>
            <td class="reason">{task.reason ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** "0", "SIGKILL", or "-" before it ends. */
export function exit(task: { exitCode: number | null; signal: string | null }): string {
  return task.exitCode !== null ? String(task.exitCode) : task.signal ?? "-";
}
