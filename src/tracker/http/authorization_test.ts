/** The table of who may call which route: matching paths, the refusals' messages, and that every route is in it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FabricError } from "../../protocol/mod.ts";
import { SqliteStore } from "../../store/mod.ts";
import { createRoutes } from "../routes.ts";
import { Tracker } from "../tracker.ts";
import { authorize, authorizeOwned, findRoute, type RouteRule, ROUTES } from "./authorization.ts";

Deno.test("a request finds its route's rule by method and path; a parameter is one segment, never empty", () => {
  assert.equal(findRoute("GET", "/v1/jobs"), ROUTES.listJobs);
  assert.equal(findRoute("POST", "/v1/jobs"), ROUTES.submitJob);
  assert.equal(findRoute("GET", "/v1/jobs/abc"), ROUTES.getJob);
  assert.equal(findRoute("POST", "/v1/jobs/abc/cancel"), ROUTES.cancelJob);
  assert.equal(findRoute("DELETE", "/v1/agents/build-1"), ROUTES.removeAgent);
  assert.equal(findRoute("POST", "/v1/agents/register"), ROUTES.register, "a static path before a pattern");
  assert.equal(findRoute("GET", "/v1/jobs/"), null);
  assert.equal(findRoute("GET", "/v1/jobs/a/b"), null);
  assert.equal(findRoute("DELETE", "/v1/jobs/abc"), null);
  assert.equal(findRoute("GET", "/v1/nothing"), null);
});

Deno.test("every route the API serves is in the table, and every rule is served", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-authz-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")) });
  try {
    const app = createRoutes(tracker, { caPem: "" });
    // The API's routes and the probes (the dashboard beside them, outside /v1/, asks
    // dashboard/permissions.ts, which asks this table).
    const operating = ["/metrics", "/healthz", "/readyz"];
    const served = app.routes.filter((r) =>
      r.method !== "ALL" && (r.path.startsWith("/v1/") || operating.includes(r.path))
    )
      .map((r) => `${r.method} ${r.path}`).sort();
    const table = Object.values(ROUTES).map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(served, table);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a refusal says which role the action needs and which role the caller has", () => {
  const ci = { kind: "client", name: "ci", role: "submit" } as const;
  const refused = (attempt: () => void) => {
    try {
      attempt();
    } catch (error) {
      assert.ok(error instanceof FabricError);
      return `${error.code}: ${error.message}`;
    }
    return "allowed";
  };
  assert.equal(
    refused(() => authorize(ci, ROUTES.drainAgent.need)),
    'forbidden: Draining an agent needs the operator role; this token ("ci") has the submit role',
  );
  assert.equal(refused(() => authorize(ci, ROUTES.cancelJob.need)), "allowed");
  assert.equal(refused(() => authorizeOwned(ci, ROUTES.cancelJob.need, "ci")), "allowed");
  assert.equal(
    refused(() => authorizeOwned(ci, ROUTES.cancelJob.need, "other")),
    `forbidden: Cancelling another token's job needs the operator role; this token ("ci") has the submit role`,
  );
  assert.match(refused(() => authorizeOwned(ci, ROUTES.cancelJob.need, null)), /another token's job/);
  const operator = { kind: "client", name: "ops", role: "operator" } as const;
  assert.equal(refused(() => authorizeOwned(operator, ROUTES.cancelJob.need, "ci")), "allowed");
  assert.equal(
    refused(() => authorize({ kind: "join" }, ROUTES.listJobs.need)),
    "forbidden: Listing jobs needs the read role; the join token only registers agents",
  );
  assert.equal(
    refused(() => authorize({ kind: "agent", agentId: "a" }, ROUTES.getJob.need)),
    "forbidden: Reading a job needs the read role; an agent's credential acts only as its agent",
  );
  assert.equal(
    refused(() => authorize(operator, ROUTES.register.need)),
    'forbidden: Registering an agent needs the join token or an admin token; this token ("ops") has the operator role',
  );
  assert.equal(
    refused(() => authorize(ci, ROUTES.claim.need)),
    'forbidden: This route is for agents, with their own credential; this token ("ci") has the submit role',
  );
});

Deno.test("every route that changes something names its audit action; only an agent's own routes (and their relayed heartbeats and pooled claims) are left out", () => {
  const actions = new Set<string>();
  for (const [name, rule] of Object.entries(ROUTES) as Array<[string, RouteRule]>) {
    if (rule.method === "GET") {
      assert.equal(rule.audit, undefined, `${name}: a GET changes nothing, and records nothing`);
      continue;
    }
    assert.notEqual(
      rule.audit,
      undefined,
      `${name} (${rule.method} ${rule.path}) changes something: it needs an action`,
    );
    if (rule.audit === null) {
      // A follower relaying its agents' heartbeats or claims acts for them: as their own calls, unrecorded.
      if (rule === ROUTES.relayHeartbeats || rule === ROUTES.poolClaims) continue;
      assert.equal(rule.need.who, "agent", `${name}: only an agent acting for itself goes unrecorded`);
      continue;
    }
    assert.match(rule.audit!, /^[a-z]+(\.[a-z]+)?$/, `${name}: a stable action name`);
    assert.ok(!actions.has(rule.audit!), `${name}: "${rule.audit}" names another route's action too`);
    actions.add(rule.audit!);
  }
});
