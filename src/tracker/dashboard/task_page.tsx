/**
 * `/tasks/:id`: a task, its attempts, the JSON it wrote, and its output, followed live (across its
 * retries unless an attempt is asked for) by the page's script from where the server's render ends.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import { isTerminalJob, isTerminalTask, type JobSummary, type LogChunk, type TaskDetail } from "../../protocol/mod.ts";
import { getJobSummary, getTask, readLogs, watchJob } from "../queries.ts";
import type { Tracker } from "../tracker.ts";
import type { PageContext } from "./context.ts";
import { ago, bytes, took } from "./format.ts";
import { exit } from "./job_page.tsx";
import { Layout } from "./layout.tsx";
import { LIVE_WAIT_MS, liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href, wholeNumber } from "./params.ts";
import { Head, State } from "./widgets.tsx";

/** The output the page itself holds; the script streams the rest. */
const HEAD_CHUNKS = 1000;
const HEAD_CHARS = 512 * 1024;

export async function taskPage(c: Context, { tracker, caller }: PageContext): Promise<Response> {
  const id = c.req.param("id")!;
  const pinned = wholeNumber(c, "attempt", 1, 1_000_000);
  let task = await getTask(tracker, id);
  const since = wantsFragment(c) ? wholeNumber(c, "since", 0, Number.MAX_SAFE_INTEGER) : null;
  let job: JobSummary;
  if (since === null) job = await getJobSummary(tracker, task.jobId);
  else {
    // The task changes with its job's version (which moves on every change of any of its tasks).
    job = await watchJob(tracker, task.jobId, since, LIVE_WAIT_MS, c.req.raw.signal);
    if (job.version !== since) task = await getTask(tracker, id);
  }
  const base = `/tasks/${encodeURIComponent(id)}`;
  const region = await liveRegion(<TaskBody task={task} now={tracker.clock.now()} base={base} />, {
    url: href(base, { attempt: pinned, fragment: 1 }),
    version: job.version,
    everyMs: 500,
    ended: isTerminalJob(job.state),
  });
  if (wantsFragment(c)) return liveAnswer(c, region);

  const attempt = pinned ?? task.attempt;
  const head = await logHead(tracker, id, attempt);
  const over = attempt < task.attempt || (attempt === task.attempt && isTerminalTask(task.state));
  const follow = head.more || !over
    ? href(`${base}/log`, { attempt, after: head.after >= 0 ? head.after : undefined, follow: 1 })
    : undefined;
  return await c.html(
    <Layout title={`Task ${task.name}`} caller={caller}>
      <p class="crumbs">
        <a href="/">Jobs</a> / <a href={`/jobs/${encodeURIComponent(task.jobId)}`}>{job.name}</a> /
      </p>
      <h1>
        {task.name} <span class="id">{task.id}</span>
      </h1>
      {raw(region.html)}
      <section>
        <h2>
          Output of attempt {attempt}
          {pinned === null ? "" : " (chosen)"}
        </h2>
        <pre
          id="log"
          class="log"
          data-follow={follow}
          data-attempt={String(attempt)}
          data-pinned={pinned === null ? undefined : "1"}
        >
          {head.chunks.map((chunk) => <Chunk chunk={chunk} />)}
        </pre>
        <p id="log-note" class="note">
          {follow ? "" : head.chunks.length === 0 ? "This attempt wrote no output." : ""}
        </p>
      </section>
    </Layout>,
  );
}

function Chunk(props: { chunk: LogChunk }) {
  return props.chunk.stream === "stderr" ? <span class="stderr">{props.chunk.data}</span> : <>{props.chunk.data}</>;
}

/** The first of an attempt's output, bounded; `after`: the last sequence number it holds. */
async function logHead(tracker: Tracker, taskId: string, attempt: number) {
  const chunks: LogChunk[] = [];
  let chars = 0;
  let after = -1;
  for await (const line of readLogs(tracker, taskId, { attempt, follow: false })) {
    if (line.type === "end") break;
    chunks.push(line.chunk);
    after = line.chunk.seq;
    chars += line.chunk.data.length;
    if (chunks.length >= HEAD_CHUNKS || chars >= HEAD_CHARS) return { chunks, after, more: true };
  }
  return { chunks, after, more: false };
}

function TaskBody(props: { task: TaskDetail; now: number; base: string }) {
  const { task } = props;
  return (
    <>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <State state={task.state} />
        </dd>
        <dt>Attempt</dt>
        <dd>{task.attempt}</dd>
        <dt>Agent</dt>
        <dd>{task.agent ?? "-"}</dd>
        <dt>Exit</dt>
        <dd>{exit(task)}</dd>
        <dt>Duration</dt>
        <dd>{took(task.durationMs)}</dd>
        {task.reason && (
          <>
            <dt>{task.state === "queued" ? "Waits because" : "Reason"}</dt>
            <dd class="reason">{task.reason}</dd>
          </>
        )}
        <dt>Kind</dt>
        <dd>{task.kind}{task.uses ? ` ${task.uses}` : ""}{task.sandbox ? ", sandboxed" : ", not sandboxed"}</dd>
        {task.needs.length > 0 && (
          <>
            <dt>Needs</dt>
            <dd>{task.needs.join(", ")}</dd>
          </>
        )}
        {task.matrix && (
          <>
            <dt>Matrix</dt>
            <dd>{Object.entries(task.matrix).map(([k, v]) => `${k}=${v}`).join(", ")}</dd>
          </>
        )}
      </dl>
      <section>
        <h2>Attempts</h2>
        {task.attempts.length === 0 ? <p class="empty">Not started yet.</p> : (
          <table class="attempts">
            <Head columns={["Attempt", "Agent", "State", "Exit", "Assigned", "Started", "Finished", "Reason"]} />
            <tbody>
              {task.attempts.map((a) => (
                <tr>
                  <td>
                    <a href={href(props.base, { attempt: a.attempt })}>{a.attempt}</a>
                  </td>
                  <td>{a.agent}</td>
                  <td>
                    <State state={a.state} />
                  </td>
                  <td>{exit(a)}</td>
                  <td>{ago(a.assignedAt, props.now)}</td>
                  <td>{ago(a.startedAt, props.now)}</td>
                  <td>{ago(a.finishedAt, props.now)}</td>
                  <td class="reason">{a.reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {task.artifacts.length > 0 && <Artifacts task={task} base={props.base} />}
      {task.output !== null && (
        <section>
          <h2>JSON output</h2>
          {task.outputTruncated && <p class="note">The task wrote more than fabric keeps: this is cut short.</p>}
          <pre class="json">{JSON.stringify(task.output, null, 2)}</pre>
        </section>
      )}
    </>
  );
}

/** The files its latest attempt kept, each a download through this session (artifact_download.ts). */
function Artifacts(props: { task: TaskDetail; base: string }) {
  const { artifacts } = props.task;
  const total = artifacts.reduce((sum, a) => sum + a.size, 0);
  return (
    <section>
      <h2>Artifacts</h2>
      <p class="note">
        {artifacts.length} file(s), {bytes(total)}, kept by attempt {props.task.attempt}
      </p>
      <table class="artifacts">
        <Head columns={["Path", "Size", "SHA-256"]} />
        <tbody>
          {artifacts.map((a) => (
            <tr>
              <td class="mono">
                <a href={href(`${props.base}/artifact`, { path: a.path })} download>{a.path}</a>
              </td>
              <td>{bytes(a.size)}</td>
              <td class="mono" title={a.sha256}>{a.sha256.slice(0, 12)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
