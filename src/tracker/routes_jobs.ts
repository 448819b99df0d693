/** The API's routes for jobs, their tasks and logs, and periodic jobs (routes.ts registers them). */
import { FabricError, rerunJobRequestSchema, submitJobRequestSchema } from "../protocol/mod.ts";
import { authorizeOwned, type ClientNeed, type RouteRule, ROUTES } from "./http/authorization.ts";
import { ndjsonResponse } from "./http/ndjson.ts";
import { type AuditNote, intParam, type On, parseBody, taskStateParam } from "./http/route_params.ts";
import { jobDetailJson } from "./job_json.ts";
import { readJobLogs } from "./job_logs.ts";
import { MAX_TASKS_PAGE, queryJobTasks } from "./job_tasks_query.ts";
import { getJobSummary, getTask, jobWaiting, listJobs, readLogs, watchJob } from "./queries.ts";
import { submitterOf } from "./secret_policy.ts";
import type { Tracker } from "./tracker.ts";

export function jobRoutes(on: On, tracker: Tracker): void {
  on(ROUTES.submitJob, async (c) => {
    const body = await parseBody(c, submitJobRequestSchema);
    const name = (body.spec as { name?: unknown } | null)?.name;
    const note: AuditNote = { target: null, detail: typeof name === "string" ? `name "${name}"` : null };
    c.set("audit", note);
    // Fails closed: a caller the secrets' rules cannot name submits nothing (the table lets only clients in).
    const submitter = submitterOf(c.get("principal"));
    if (submitter === null) throw new FabricError("forbidden", "Only a client's token submits jobs");
    const options = {
      source: body.source ?? null,
      files: body.files,
      packs: body.packs,
      signature: body.signature,
      submitter,
      stored: (jobId: string) => {
        note.target = jobId;
        c.get("auditOk")?.();
      },
    };
    const submitted = await tracker.submitJob(body.spec, options);
    return c.json(submitted, 201);
  });
  on(ROUTES.listJobs, async (c) => {
    const limit = intParam(c, "limit", 50, 1, 10_000);
    return c.json({ jobs: await listJobs(tracker, limit) });
  });
  on(ROUTES.getJob, async (c) => {
    const jobId = c.req.param("id")!;
    const q = (name: string) => c.req.query(name);
    if (q("state") === undefined && q("name") === undefined && q("limit") === undefined && q("offset") === undefined) {
      // Streamed, a slice at a time (job_json.ts): a whole job of a million tasks is hundreds of megabytes.
      return c.body(await jobDetailJson(tracker, jobId), 200, { "content-type": "application/json" });
    }
    const state = taskStateParam(c.req.query("state"));
    const name = c.req.query("name");
    if (name !== undefined && name.length > 256) {
      throw new FabricError("bad_request", '"name" holds at most 256 characters');
    }
    const offset = intParam(c, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(c, "limit", 100, 0, MAX_TASKS_PAGE);
    return c.json(await queryJobTasks(tracker, jobId, { state, name, offset, limit }));
  });
  on(ROUTES.watchJob, async (c) => {
    const since = intParam(c, "since", 0, 0, Number.MAX_SAFE_INTEGER);
    const waitMs = intParam(c, "waitMs", 25_000, 0, 60_000);
    const job = await watchJob(tracker, c.req.param("id")!, since, waitMs, c.req.raw.signal);
    // Asked for by a client that has waited a while: off the path of a job that ends quickly.
    if (c.req.query("reasons") !== "1") return c.json(job);
    return c.json({ ...job, waiting: jobWaiting(tracker, job.id) });
  });
  on(ROUTES.rerunJob, async (c) => {
    const jobId = c.req.param("id")!;
    const body = await parseBody(c, rerunJobRequestSchema);
    const { submittedBy } = await getJobSummary(tracker, jobId);
    const principal = c.get("principal");
    authorizeOwned(principal, ROUTES.rerunJob.need, submittedBy);
    const submitter = submitterOf(principal);
    if (submitter === null) throw new FabricError("forbidden", "Only a client's token reruns jobs");
    const options = { failedOnly: body.failed === true, submitter };
    const rerun = await tracker.rerunJob(jobId, options);
    c.set("audit", { detail: `new job ${rerun.jobId}${options.failedOnly ? " (failed tasks only)" : ""}` });
    return c.json(rerun, 201);
  });
  on(ROUTES.cancelJob, async (c) => {
    const jobId = c.req.param("id")!;
    const { submittedBy } = await getJobSummary(tracker, jobId);
    authorizeOwned(c.get("principal"), ROUTES.cancelJob.need, submittedBy);
    return c.json(await tracker.cancelJob(jobId));
  });
  // ---- periodic jobs ----------------------------------------------------------------------------

  on(ROUTES.listPeriodic, async (c) => c.json({ periodic: await tracker.periodic.list() }));
  on(ROUTES.registerPeriodic, async (c) => {
    const body = await parseBody(c, submitJobRequestSchema);
    const name = (body.spec as { name?: unknown } | null)?.name;
    const note: AuditNote = { target: typeof name === "string" ? name : null, detail: null };
    c.set("audit", note);
    const principal = c.get("principal");
    const submitter = submitterOf(principal);
    if (submitter === null) throw new FabricError("forbidden", "Only a client's token registers periodic jobs");
    const options = {
      source: body.source ?? null,
      files: body.files,
      packs: body.packs,
      signature: body.signature,
      submitter,
      mayReplace: (owner: string | null) => authorizeOwned(principal, ROUTES.registerPeriodic.need, owner),
    };
    const registered = await tracker.registerPeriodic(body.spec, options);
    note.detail = registered.replaced ? "replaced" : "registered";
    return c.json(registered, 201);
  });
  const periodicRoute = (rule: RouteRule & { need: ClientNeed }, act: (name: string) => Promise<unknown>) =>
    on(rule, async (c) => {
      const name = c.req.param("name")!;
      authorizeOwned(c.get("principal"), rule.need, tracker.periodic.get(name).submittedBy);
      return c.json(await act(name));
    });
  periodicRoute(ROUTES.pausePeriodic, (name) => tracker.periodic.pause(name));
  periodicRoute(ROUTES.resumePeriodic, (name) => tracker.periodic.resume(name));
  periodicRoute(ROUTES.runPeriodic, (name) => tracker.periodic.run(name));
  periodicRoute(ROUTES.deletePeriodic, (name) => tracker.periodic.delete(name));

  on(ROUTES.getTask, async (c) => c.json(await getTask(tracker, c.req.param("id")!)));
  on(ROUTES.taskLogs, async (c) => {
    const attempt = c.req.query("attempt") === undefined ? undefined : intParam(c, "attempt", 1, 1, 1_000_000);
    const afterSeq = intParam(c, "after", -1, -1, Number.MAX_SAFE_INTEGER);
    const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
    // A client that goes away cancels the stream, which ends the generator (no request.signal needed).
    return await ndjsonResponse(readLogs(tracker, c.req.param("id")!, { attempt, afterSeq, follow }));
  });

  on(ROUTES.jobLogs, async (c) => {
    const state = taskStateParam(c.req.query("state"));
    const task = c.req.query("task");
    if (task !== undefined && task.length > 256) {
      throw new FabricError("bad_request", '"task" holds at most 256 characters');
    }
    const jobId = c.req.param("id")!;
    await getJobSummary(tracker, jobId); // a job that does not exist is a 404, not an empty stream
    return await ndjsonResponse(readJobLogs(tracker, jobId, { state, task }));
  });
}
