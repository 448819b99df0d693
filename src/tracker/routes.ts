/**
 * The HTTP API, and the web dashboard beside it. Every API route is registered from its rule in
 * http/authorization.ts, the one table of who may call what, which the front door applies before a
 * body is read (and the middleware here, for app.request() in tests). Bodies are parsed with the
 * protocol's schemas; errors are shaped by the one errorResponse the HTTPS layer and the agents' fast
 * path use too.
 */
import { type Context, Hono } from "hono";
import type { z } from "zod";
import {
  attemptRefSchema,
  AUDIT_FIELD_CHARS,
  claimRequestSchema,
  completeBlobRequestSchema,
  createTokenRequestSchema,
  drainRequestSchema,
  FabricError,
  gcRequestSchema,
  heartbeatRequestSchema,
  helloRequestSchema,
  MAX_AUDIT_PAGE,
  parseJsonBody,
  registerAgentRequestSchema,
  reportRequestSchema,
  rerunJobRequestSchema,
  secretNameSchema,
  setSecretRequestSchema,
  setWeightRequestSchema,
  submitJobRequestSchema,
  TASK_STATES,
  type TaskState,
  type TrackersResponse,
} from "../protocol/mod.ts";
import { createDashboard } from "./dashboard/mod.ts";
import { authenticate } from "./http/authenticate.ts";
import { admitAudited, routeTarget } from "./http/audited_admission.ts";
import { authorize, authorizeOwned, type ClientNeed, findRoute, type RouteRule, ROUTES } from "./http/authorization.ts";
import { PEER_HEADER } from "./http/client_address.ts";
import { errorResponse } from "./http/error_response.ts";
import { ndjsonResponse } from "./http/ndjson.ts";
import { readJobLogs } from "./job_logs.ts";
import { MAX_TASKS_PAGE, queryJobTasks } from "./job_tasks_query.ts";
import { healthAnswer, TEXT_FORMAT } from "./metrics/mod.ts";
import { getJob, getJobSummary, getTask, jobWaiting, listAgents, listJobs, readLogs, watchJob } from "./queries.ts";
import { submitterOf } from "./secret_policy.ts";
import type { Principal, Tracker } from "./tracker.ts";

/** What a route tells the audit trail beyond its path's parameter (audit.ts). */
interface AuditNote {
  target?: string | null;
  detail?: string | null;
}

/** The HTTPS layer's door has admitted the caller already (app.request() in tests has not). */
type Env = {
  Bindings: { principal?: Principal | null };
  Variables: { principal: Principal; audit: AuditNote | undefined };
};
type Handler = (c: Context<Env>) => Response | Promise<Response>;

const helloBodySchema = helloRequestSchema.extend({ holding: attemptRefSchema.array().max(100_000).default([]) });

export interface RoutesOptions {
  caPem: string;
  /** Keep a new join token where the tracker's machine reads it (`DIR/join.token`). */
  saveJoinToken?: (token: string) => Promise<void>;
  /** The trackers sharing the store (server.ts's list; none for a Tracker served alone, as in tests). */
  trackers?: () => Promise<TrackersResponse>;
  log?: (message: string) => void;
}

export function createRoutes(tracker: Tracker, options: RoutesOptions): Hono<Env> {
  const app = new Hono<Env>();
  const log = options.log ?? (() => {});
  const on = (rule: RouteRule, handler: Handler) => app.on(rule.method, rule.path, handler);

  app.onError((error, c) => {
    const answer = errorResponse(error, `${c.req.method} ${c.req.path}`, log);
    return c.body(answer.body, answer.status as 400, { "content-type": "application/json" });
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route ${c.req.method} ${c.req.path}` } }, 404));

  // Unauthenticated on purpose: an agent pins this CA by hash before it sends anything else.
  on(ROUTES.ca, (c) => c.body(options.caPem, 200, { "content-type": "application/x-pem-file" }));

  // ---- operating: probes without a token, metrics with one ------------------------------------

  const TEXT = { "content-type": "text/plain; charset=utf-8" };
  on(ROUTES.healthz, (c) => c.body(healthAnswer(null).body, 200, TEXT));
  on(ROUTES.readyz, async (c) => {
    const answer = healthAnswer(await tracker.probes.readiness());
    return c.body(answer.body, answer.status as 200, TEXT);
  });
  on(ROUTES.metrics, async (c) => {
    // The door admitted the caller by the table; a HEAD, which has no row, is checked here.
    const principal = c.env?.principal ?? authenticate(tracker, c.req.header("authorization"));
    authorize(principal, ROUTES.metrics.need);
    return c.body(await tracker.probes.metrics(), 200, { "content-type": TEXT_FORMAT });
  });

  // Every change asked for is recorded once it is answered, with its outcome (the door recorded those
  // it refused already): the actor is the admitted principal, never anything the request says.
  app.use("/v1/*", async (c, next) => {
    const { method, path } = c.req;
    const address = c.req.header(PEER_HEADER) ?? null;
    const admitted = c.env?.principal ??
      admitAudited(tracker, { method, path, authorization: c.req.header("authorization"), address });
    c.set("principal", admitted!);
    await next();
    const rule = findRoute(method, path);
    if (!rule?.audit || !admitted) return;
    const note = c.get("audit") ?? {};
    tracker.audit.record({
      principal: admitted,
      action: rule.audit,
      target: note.target !== undefined ? note.target : routeTarget(rule, path),
      detail: note.detail ?? null,
      address,
      outcome: c.error ? { error: c.error } : c.res.status < 400 ? "ok" : { error: statusError(c.res.status) },
    });
  });

  // ---- agents --------------------------------------------------------------------------------

  on(ROUTES.register, async (c) => {
    const body = await parseBody(c, registerAgentRequestSchema);
    c.set("audit", { target: body.name });
    return c.json(await tracker.registerAgent(body, { byAdmin: c.get("principal").kind === "client" }));
  });
  on(ROUTES.hello, async (c) => c.json(await tracker.hello(agentOf(c), await parseBody(c, helloBodySchema))));
  const hot = agentHotRoutes(tracker);
  for (const rule of [ROUTES.heartbeat, ROUTES.claim, ROUTES.report]) {
    const handler = hot[rule.path];
    on(rule, async (c) => c.json(await handler(agentOf(c), await readJson(c), c.req.raw.signal)));
  }
  on(ROUTES.selfDrain, async (c) => {
    const body = await parseBody(c, drainRequestSchema);
    return c.json(await tracker.selfDrain(agentOf(c), body.graceMs));
  });
  on(ROUTES.leave, async (c) => {
    await tracker.leave(agentOf(c));
    return c.json({ ok: true });
  });

  // ---- clients -------------------------------------------------------------------------------

  on(ROUTES.listAgents, (c) => c.json({ agents: listAgents(tracker) }));
  on(ROUTES.drainAgent, async (c) => {
    const body = await parseBody(c, drainRequestSchema);
    return c.json(await tracker.drain(c.req.param("name")!, body.graceMs));
  });
  on(ROUTES.resumeAgent, async (c) => c.json(await tracker.resume(c.req.param("name")!)));
  on(ROUTES.setWeight, async (c) => {
    const body = await parseBody(c, setWeightRequestSchema);
    c.set("audit", { detail: `weight ${body.weight}` });
    await tracker.setWeight(c.req.param("name")!, body.weight);
    return c.json({ name: c.req.param("name"), weight: body.weight });
  });
  on(ROUTES.approveAgent, async (c) => c.json(await tracker.approveAgent(c.req.param("name")!)));
  on(ROUTES.removeAgent, async (c) => c.json(await tracker.removeAgent(c.req.param("name")!)));

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
    };
    const submitted = await tracker.submitJob(body.spec, options);
    note.target = submitted.jobId;
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
      return c.json(await getJob(tracker, jobId));
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

  on(ROUTES.gc, async (c) => {
    const body = await parseBody(c, gcRequestSchema);
    return c.json(await tracker.retention.run({ budgetMs: body.budgetMs }));
  });
  on(ROUTES.getTask, async (c) => c.json(await getTask(tracker, c.req.param("id")!)));
  // Secrets: a value comes in here and never goes out; what is listed is names and rules.
  on(ROUTES.setSecret, async (c) => {
    const name = secretName(c);
    const body = await parseBody(c, setSecretRequestSchema);
    return c.json(await tracker.secrets.set(name, { value: body.value, allow: body.allow }));
  });
  on(ROUTES.listSecrets, (c) => c.json({ secrets: tracker.secrets.list() }));
  on(ROUTES.listAudit, async (c) => c.json(await tracker.audit.page(auditQuery(c))));
  on(ROUTES.deleteSecret, async (c) => {
    const name = secretName(c);
    await tracker.secrets.delete(name);
    return c.json({ name, deleted: true });
  });
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

  // ---- blobs: files shipped with jobs (blobs.ts) ------------------------------------------------

  on(ROUTES.blobInfo, async (c) => c.json(await tracker.blobs.info(c.req.param("sha256")!)));
  on(ROUTES.completeBlob, async (c) => {
    const body = await parseBody(c, completeBlobRequestSchema);
    return c.json(await tracker.blobs.complete(c.req.param("sha256")!, body.size));
  });
  on(ROUTES.putBlobChunk, async (c) => {
    const data = new Uint8Array(await c.req.arrayBuffer());
    await tracker.blobs.putChunk(c.req.param("sha256")!, chunkParam(c), data);
    return c.json({ ok: true });
  });
  on(ROUTES.readBlobChunk, async (c) => {
    const data = await tracker.blobs.readChunk(c.req.param("sha256")!, chunkParam(c));
    return c.body(data as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });

  // ---- tokens --------------------------------------------------------------------------------

  on(ROUTES.listTokens, (c) => c.json({ tokens: tracker.listTokens() }));
  on(ROUTES.createToken, async (c) => {
    const body = await parseBody(c, createTokenRequestSchema);
    // Its name and role; never the token, which only the answer holds.
    c.set("audit", { target: body.name, detail: `role ${body.role}` });
    return c.json(await tracker.createToken(body), 201);
  });
  on(ROUTES.revokeToken, async (c) => c.json(await tracker.revokeToken(c.req.param("name")!)));
  on(ROUTES.rotateJoin, async (c) => {
    const token = await tracker.rotateJoinToken();
    await options.saveJoinToken?.(token);
    return c.json({ token });
  });

  on(ROUTES.listTrackers, async (c) => {
    if (!options.trackers) throw new FabricError("not_found", "This tracker keeps no list of trackers");
    return c.json(await options.trackers());
  });

  // The web dashboard, outside /v1/: its pages take a session cookie or a bearer token (dashboard/mod.ts).
  app.route("/", createDashboard(tracker, { log, trackers: options.trackers }));

  return app;
}

/** A hot route's handler; `signal` aborts when the client goes away (it ends a claim's long poll). */
export type HotRoute = (agentId: string, body: unknown, signal?: AbortSignal) => Promise<unknown>;

/**
 * The routes every agent calls all the time (a heartbeat every few seconds, a long poll, reports),
 * by path: served by Hono like the rest, and by the HTTPS layer's fast path (http/front_door.ts).
 */
export function agentHotRoutes(tracker: Tracker): Record<string, HotRoute> {
  return {
    "/v1/agent/heartbeat": (agentId, body) => tracker.heartbeat(agentId, validate(heartbeatRequestSchema, body).load),
    "/v1/agent/claim": (agentId, body, signal) => tracker.claim(agentId, validate(claimRequestSchema, body), signal),
    "/v1/agent/report": (agentId, body) => tracker.report(agentId, validate(reportRequestSchema, body).events),
  };
}

/** The agent a request comes from (the door admitted only agents to agent routes). */
function agentOf(c: Context<Env>): string {
  const principal = c.get("principal");
  if (principal.kind !== "agent") {
    throw new FabricError("forbidden", "This route is for agents, with their own credential");
  }
  return principal.agentId;
}

async function parseBody<S extends z.ZodType>(c: Context<Env>, schema: S): Promise<z.output<S>> {
  return validate(schema, await readJson(c));
}

async function readJson(c: Context<Env>): Promise<unknown> {
  let body: ArrayBuffer;
  try {
    body = await c.req.arrayBuffer();
  } catch {
    throw new FabricError("bad_request", "The request body could not be read");
  }
  return parseJsonBody(new Uint8Array(body));
}

function validate<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length > 0 ? `"${first.path.join(".")}"` : "the body";
    throw new FabricError("bad_request", `Invalid request: ${where}: ${first.message}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** A chunk's number in the path. */
function chunkParam(c: Context<Env>): number {
  const raw = c.req.param("seq") ?? "";
  if (!/^\d{1,9}$/.test(raw)) {
    throw new FabricError("bad_request", `A chunk's number must be a whole number, got "${raw.slice(0, 20)}"`);
  }
  return Number(raw);
}

function secretName(c: Context<Env>): string {
  const name = c.req.param("name") ?? "";
  const parsed = secretNameSchema.safeParse(name);
  if (!parsed.success) {
    throw new FabricError(
      "bad_request",
      `A secret's name ${parsed.error.issues[0].message}, got "${name.slice(0, 130)}"`,
    );
  }
  return parsed.data;
}

function intParam(c: Context<Env>, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FabricError(
      "bad_request",
      `Query parameter "${name}" must be a whole number from ${min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

/** The filters of GET /v1/audit: since (ms), actor, action (a prefix), before (an entry's id), limit. */
function auditQuery(c: Context<Env>) {
  const text = (name: string) => {
    const value = c.req.query(name);
    if (value !== undefined && value.length > AUDIT_FIELD_CHARS) {
      throw new FabricError("bad_request", `"${name}" holds at most ${AUDIT_FIELD_CHARS} characters`);
    }
    return value === "" ? undefined : value;
  };
  const since = c.req.query("since") === undefined ? undefined : intParam(c, "since", 0, 0, Number.MAX_SAFE_INTEGER);
  const before = c.req.query("before") === undefined ? undefined : intParam(c, "before", 0, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(c, "limit", 100, 1, MAX_AUDIT_PAGE);
  return { since, actor: text("actor"), actionPrefix: text("action"), before, limit };
}

/** An answer that says it failed without an error behind it (a 404 of no route): its code from its status. */
function statusError(status: number): FabricError {
  return new FabricError(
    status === 404 ? "not_found" : status === 403 ? "forbidden" : "bad_request",
    `status ${status}`,
  );
}

/** A `state` query parameter: a task state, or absent. */
function taskStateParam(value: string | undefined): TaskState | undefined {
  if (value === undefined) return undefined;
  if (!(TASK_STATES as readonly string[]).includes(value)) {
    throw new FabricError("bad_request", `"state" must be one of ${TASK_STATES.join(", ")}`);
  }
  return value as TaskState;
}
