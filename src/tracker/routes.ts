/**
 * The HTTP API, and the web dashboard beside it. Every API route is registered from its rule in
 * http/authorization.ts, the one table of who may call what, which the front door applies before a
 * body is read (and the middleware here, for app.request() in tests). Bodies are parsed with the
 * protocol's schemas; errors are shaped by the one errorResponse the HTTPS layer and the agents' fast
 * path use too.
 */
import { Hono } from "hono";
import {
  attemptRefSchema,
  claimRequestSchema,
  drainRequestSchema,
  heartbeatRequestSchema,
  helloRequestSchema,
  pooledClaimsSchema,
  registerAgentRequestSchema,
  relayedHeartbeatsSchema,
  reportRequestSchema,
  setWeightRequestSchema,
} from "../protocol/mod.ts";
import { createDashboard } from "./dashboard/mod.ts";
import { authenticate } from "./http/authenticate.ts";
import type { AuditEvent } from "./audit.ts";
import { admitAudited, routeTarget } from "./http/audited_admission.ts";
import { authorize, findRoute, type RouteRule, ROUTES } from "./http/authorization.ts";
import { PEER_HEADER } from "./http/client_address.ts";
import { errorResponse } from "./http/error_response.ts";
import { agentOf, type Env, type Handler, parseBody, readJson, statusError, validate } from "./http/route_params.ts";
import { healthAnswer, TEXT_FORMAT } from "./metrics/mod.ts";
import { listAgents } from "./queries.ts";
import { type AdminRouteOptions, adminRoutes } from "./routes_admin.ts";
import { jobRoutes } from "./routes_jobs.ts";
import { channelRoutes } from "./routes_channels.ts";
import type { Tracker } from "./tracker.ts";

const helloBodySchema = helloRequestSchema.extend({ holding: attemptRefSchema.array().max(100_000).default([]) });

export interface RoutesOptions extends AdminRouteOptions {
  caPem: string;
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
    // Only a change is recorded (no read has an action): a GET, an agent's chunk download among them,
    // is not looked up again.
    const rule = method === "GET" || method === "HEAD" ? undefined : findRoute(method, path);
    let recorded = false;
    const record = (outcome: AuditEvent["outcome"]) => {
      if (recorded || !rule?.audit || !admitted) return;
      recorded = true;
      const note = c.get("audit") ?? {};
      tracker.audit.record({
        principal: admitted,
        action: rule.audit,
        target: note.target !== undefined ? note.target : routeTarget(rule, path),
        detail: note.detail ?? null,
        address,
        outcome,
      });
    };
    c.set("auditOk", () => record("ok"));
    await next();
    record(c.error ? { error: c.error } : c.res.status < 400 ? "ok" : { error: statusError(c.res.status) });
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
  on(
    ROUTES.relayHeartbeats,
    async (c) => c.json(await tracker.relayedHeartbeats(await parseBody(c, relayedHeartbeatsSchema))),
  );
  on(
    ROUTES.poolClaims,
    async (c) => c.json(await tracker.pooledClaims(await parseBody(c, pooledClaimsSchema), c.req.raw.signal)),
  );

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

  jobRoutes(on, tracker);
  channelRoutes(on, tracker);
  adminRoutes(on, tracker, options);

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
