/** Authentication and error shapes of the HTTP API, exercised without a socket (Hono's app.request). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { FabricError } from "../protocol/mod.ts";
import { fastAgentRoutes, trackerFrontDoor } from "./http/front_door.ts";
import { createRoutes } from "./routes.ts";
import { Tracker } from "./tracker.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fabric-routes-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")) });
  await tracker.setTokens({ admin: "admin-secret", join: "join-secret" });
  const app = createRoutes(tracker, { caPem: "PEM" });
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const cleanup = async () => {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { tracker, call, cleanup };
}

Deno.test("every route but the CA needs a token, and each token reaches only its own routes", async () => {
  const { call, cleanup } = await setup();
  try {
    assert.equal(await (await call("GET", "/v1/ca")).text(), "PEM");
    const none = await call("GET", "/v1/jobs");
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.code, "unauthorized");
    assert.equal((await call("GET", "/v1/jobs", "wrong")).status, 401);
    assert.equal((await call("GET", "/v1/jobs", "admin-secret")).status, 200);
    const joinOnAdmin = await call("GET", "/v1/jobs", "join-secret");
    assert.equal(joinOnAdmin.status, 403);
    assert.equal((await joinOnAdmin.json()).error.code, "forbidden");
    const adminRegisters = await call("POST", "/v1/agents/register", "admin-secret", {
      name: "by-admin",
      slots: 1,
      version: "",
      os: "",
      arch: "",
    });
    assert.equal(adminRegisters.status, 200, "an admin may register an agent (and take a name back)");
    assert.equal((await call("GET", "/v1/nothing", "admin-secret")).status, 404);
    assert.equal((await call("GET", "/v1/nothing")).status, 401, "no route is told to a stranger");

    const registered = await call("POST", "/v1/agents/register", "join-secret", {
      name: "a",
      slots: 1,
      version: "1",
      os: "linux",
      arch: "x",
    });
    assert.equal(registered.status, 200);
    const { credential } = await registered.json();
    assert.equal((await call("GET", "/v1/jobs", credential)).status, 403, "an agent is not a client");
    const heartbeat = await call("POST", "/v1/agent/heartbeat", credential, {
      load: { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 2, running: 0, freeSlots: 1 },
    });
    assert.equal(heartbeat.status, 200);
    const forged = credential.replace(/.$/, (c: string) => (c === "a" ? "b" : "a"));
    assert.equal((await call("POST", "/v1/agent/heartbeat", forged, {})).status, 401);
  } finally {
    await cleanup();
  }
});

Deno.test("bodies are validated and errors are {error: {code, message}} with the right status", async () => {
  const { call, cleanup } = await setup();
  try {
    const notJson = await call("POST", "/v1/jobs", "admin-secret", "{nope");
    assert.equal(notJson.status, 400);
    assert.deepEqual(await notJson.json(), {
      error: { code: "bad_request", message: "The request body is not valid JSON" },
    });
    const badJob = await call("POST", "/v1/jobs", "admin-secret", { spec: { name: "x", tasks: [{ name: "a" }] } });
    assert.equal(badJob.status, 400);
    const body = await badJob.json();
    assert.equal(body.error.code, "invalid_job");
    assert.match(body.error.message, /"tasks\[0\]" needs "run" \(a shell task\), "script" or "code"/);
    const missing = await call("GET", "/v1/jobs/nothere", "admin-secret");
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const badQuery = await call("GET", "/v1/jobs?limit=lots", "admin-secret");
    assert.equal(badQuery.status, 400);
    assert.match((await badQuery.json()).error.message, /"limit"/);
  } finally {
    await cleanup();
  }
});

Deno.test("the door admits from the headers alone, and the fast path answers as the routes do", async () => {
  const { tracker, call, cleanup } = await setup();
  try {
    const lines: string[] = [];
    const door = trackerFrontDoor(tracker, (line) => lines.push(line));
    const fast = fastAgentRoutes(tracker);
    const registered = await call("POST", "/v1/agents/register", "join-secret", {
      name: "a",
      slots: 1,
      version: "1",
      os: "linux",
      arch: "x",
    });
    const { credential } = await registered.json();
    const body = (value: unknown) =>
      new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
    const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 2, running: 0, freeSlots: 1 };
    const signal = new AbortController().signal;
    const agent = door.admit("POST", "/v1/agent/heartbeat", `Bearer ${credential}`).context;

    const ok = await fast("POST", "/v1/agent/heartbeat", agent, body({ load }), signal);
    assert.equal(ok?.status, 200);
    assert.equal(JSON.parse(ok!.body).state, "ready");
    const viaHono = await call("POST", "/v1/agent/heartbeat", credential, { load });
    assert.deepEqual(Object.keys(JSON.parse(ok!.body)), Object.keys(await viaHono.json()));

    // Refusals are thrown, and the one errorResponse shapes them as Hono's onError does.
    const refused = async (attempt: () => unknown) => {
      try {
        await attempt();
      } catch (error) {
        return door.errorResponse(error, "POST /v1/agent/heartbeat");
      }
      assert.fail("not refused");
    };
    const admin = { kind: "client", name: "admin", role: "admin" } as const;
    const errors = [
      [await refused(() => door.admit("POST", "/v1/agent/heartbeat", undefined)), 401, "unauthorized"],
      [await refused(() => door.admit("POST", "/v1/agent/heartbeat", "Bearer nope")), 401, "unauthorized"],
      [await refused(() => door.admit("POST", "/v1/agent/heartbeat", "Bearer admin-secret")), 403, "forbidden"],
      [await refused(() => fast("POST", "/v1/agent/heartbeat", agent, body("{nope"), signal)), 400, "bad_request"],
      [await refused(() => fast("POST", "/v1/agent/heartbeat", agent, body({ load: {} }), signal)), 400, "bad_request"],
    ] as const;
    for (const [answer, status, code] of errors) {
      assert.equal(answer.status, status);
      assert.equal(JSON.parse(answer.body).error.code, code);
    }
    const viaHonoForbidden = await call("POST", "/v1/agent/heartbeat", "admin-secret", { load });
    assert.deepEqual(JSON.parse(errors[2][0].body), await viaHonoForbidden.json());
    // The fast path checks its caller too, whoever admitted it.
    const notAgent = await refused(() => fast("POST", "/v1/agent/heartbeat", admin, body({ load }), signal));
    assert.equal(notAgent.status, 403);
    assert.equal(await fast("GET", "/v1/jobs", admin, body(""), signal), null);
    assert.equal(await fast("POST", "/v1/agent/hello", agent, body({}), signal), null);

    assert.equal(door.admit("GET", "/v1/ca", undefined).context, null, "the CA needs no token");
    assert.equal(door.admit("POST", "/v1/agent/heartbeat", `Bearer ${credential}`).maxBodyBytes, 1024 * 1024);
    assert.equal(door.admit("POST", "/v1/agent/report", `Bearer ${credential}`).maxBodyBytes, 32 * 1024 * 1024);
    assert.equal(door.admit("GET", "/v1/jobs", "Bearer admin-secret").maxBodyBytes, 0);

    // A bug is logged with its stack and answered with the same message wherever it happens.
    const internal = door.errorResponse(new TypeError("boom"), "POST /v1/agent/claim");
    assert.equal(internal.status, 500);
    assert.deepEqual(JSON.parse(internal.body), {
      error: { code: "internal", message: "The tracker hit an internal error; see its log" },
    });
    assert.match(lines.join("\n"), /POST \/v1\/agent\/claim failed: TypeError: boom/);
    assert.equal(door.errorResponse(new FabricError("not_found", "No job"), "GET /v1/jobs/x").status, 404);
  } finally {
    await cleanup();
  }
});
