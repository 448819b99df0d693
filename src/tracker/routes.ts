/**
 * The HTTP API, and the web dashboard beside it. Every API route but `GET /v1/ca` needs a bearer token; each principal reaches only its
 * own routes. Bodies are parsed with the protocol's schemas; errors are shaped by the one
 * errorResponse the HTTPS layer and the agents' fast path use too.
 */
import { type Context, Hono } from "hono";
import type { z } from "zod";
import {
  attemptRefSchema,
  claimRequestSchema,
  drainRequestSchema,
  FabricError,
  heartbeatRequestSchema,
  helloRequestSchema,
  parseJsonBody,
  registerAgentRequestSchema,
  reportRequestSchema,
  setWeightRequestSchema,
  submitJobRequestSchema,
} from "../protocol/mod.ts";
import { createDashboard } from "./dashboard/mod.ts";
import { authenticate } from "./http/authenticate.ts";
import { errorResponse } from "./http/error_response.ts";
import { ndjsonResponse } from "./http/ndjson.ts";
import { getJob, getTask, jobWaiting, listAgents, listJobs, readLogs, watchJob } from "./queries.ts";
import type { Principal, Tracker } from "./tracker.ts";

/** The HTTPS layer's door has authenticated the caller already (app.request() in tests has not). */
type Env = { Bindings: { principal?: Principal | null }; Variables: { principal: Principal } };

const helloBodySchema = helloRequestSchema.extend({ holding: attemptRefSchema.array().max(100_000).default([]) });

export interface RoutesOptions {
  caPem: string;
  log?: (message: string) => void;
}

export function createRoutes(tracker: Tracker, options: RoutesOptions): Hono<Env> {
  const app = new Hono<Env>();
  const log = options.log ?? (() => {});

  app.onError((error, c) => {
    const answer = errorResponse(error, `${c.req.method} ${c.req.path}`, log);
    return c.body(answer.body, answer.status as 400, { "content-type": "application/json" });
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route ${c.req.method} ${c.req.path}` } }, 404));

  // Unauthenticated on purpose: an agent pins this CA by hash before it sends anything else.
  app.get("/v1/ca", (c) => c.body(options.caPem, 200, { "content-type": "application/x-pem-file" }));

  app.use("/v1/*", async (c, next) => {
    c.set("principal", c.env?.principal ?? authenticate(tracker, c.req.header("authorization")));
    await next();
  });

  // ---- agents --------------------------------------------------------------------------------

  app.post("/v1/agents/register", async (c) => {
    require(c, "join");
    const body = await parseBody(c, registerAgentRequestSchema);
    return c.json(await tracker.registerAgent(body));
  });
  app.post("/v1/agent/hello", async (c) => {
    const agentId = requireAgent(c);
    return c.json(await tracker.hello(agentId, await parseBody(c, helloBodySchema)));
  });
  for (const [path, handler] of Object.entries(agentHotRoutes(tracker))) {
    app.post(path, async (c) => c.json(await handler(requireAgent(c), await readJson(c), c.req.raw.signal)));
  }
  app.post("/v1/agent/drain", async (c) => {
    const agentId = requireAgent(c);
    const body = await parseBody(c, drainRequestSchema);
    return c.json(await tracker.selfDrain(agentId, body.graceMs));
  });
  app.post("/v1/agent/leave", async (c) => {
    await tracker.leave(requireAgent(c));
    return c.json({ ok: true });
  });

  // ---- clients -------------------------------------------------------------------------------

  app.get("/v1/agents", (c) => {
    require(c, "admin");
    return c.json({ agents: listAgents(tracker) });
  });
  app.post("/v1/agents/:name/drain", async (c) => {
    require(c, "admin");
    const body = await parseBody(c, drainRequestSchema);
    return c.json(await tracker.drain(c.req.param("name"), body.graceMs));
  });
  app.post("/v1/agents/:name/resume", async (c) => {
    require(c, "admin");
    return c.json(await tracker.resume(c.req.param("name")));
  });
  app.put("/v1/agents/:name/weight", async (c) => {
    require(c, "admin");
    const body = await parseBody(c, setWeightRequestSchema);
    await tracker.setWeight(c.req.param("name"), body.weight);
    return c.json({ name: c.req.param("name"), weight: body.weight });
  });
  app.post("/v1/jobs", async (c) => {
    require(c, "admin");
    const body = await parseBody(c, submitJobRequestSchema);
    const options = { source: body.source ?? null, files: body.files, signature: body.signature };
    return c.json(await tracker.submitJob(body.spec, options), 201);
  });
  app.get("/v1/jobs", async (c) => {
    require(c, "admin");
    const limit = intParam(c, "limit", 50, 1, 10_000);
    return c.json({ jobs: await listJobs(tracker, limit) });
  });
  app.get("/v1/jobs/:id", async (c) => {
    require(c, "admin");
    return c.json(await getJob(tracker, c.req.param("id")));
  });
  app.get("/v1/jobs/:id/watch", async (c) => {
    require(c, "admin");
    const since = intParam(c, "since", 0, 0, Number.MAX_SAFE_INTEGER);
    const waitMs = intParam(c, "waitMs", 25_000, 0, 60_000);
    const job = await watchJob(tracker, c.req.param("id"), since, waitMs, c.req.raw.signal);
    // Asked for by a client that has waited a while: off the path of a job that ends quickly.
    if (c.req.query("reasons") !== "1") return c.json(job);
    return c.json({ ...job, waiting: jobWaiting(tracker, job.id) });
  });
  app.post("/v1/jobs/:id/cancel", async (c) => {
    require(c, "admin");
    return c.json(await tracker.cancelJob(c.req.param("id")));
  });
  app.get("/v1/tasks/:id", async (c) => {
    require(c, "admin");
    return c.json(await getTask(tracker, c.req.param("id")));
  });
  app.get("/v1/tasks/:id/logs", async (c) => {
    require(c, "admin");
    const attempt = c.req.query("attempt") === undefined ? undefined : intParam(c, "attempt", 1, 1, 1_000_000);
    const afterSeq = intParam(c, "after", -1, -1, Number.MAX_SAFE_INTEGER);
    const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
    // A client that goes away cancels the stream, which ends the generator (no request.signal needed).
    return await ndjsonResponse(readLogs(tracker, c.req.param("id"), { attempt, afterSeq, follow }));
  });

  // The web dashboard, outside /v1/: its pages take a session cookie or a bearer token (dashboard/mod.ts).
  app.route("/", createDashboard(tracker, { log }));

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

function require(c: Context<Env>, kind: "admin" | "join"): void {
  const principal = c.get("principal");
  if (principal.kind !== kind) {
    throw new FabricError(
      "forbidden",
      `This route needs the ${kind} token; a${principal.kind === "admin" ? "n" : ""} ${principal.kind} token was given`,
    );
  }
}

function requireAgent(c: Context<Env>): string {
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
