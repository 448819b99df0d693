/**
 * Every route of the API called by every kind of caller, against a real tracker process: no token,
 * each role's token, a revoked and an expired token, an agent's credential and the join token. The
 * expected answers are written out here, apart from the tracker's own table (authorization.ts), and
 * the type below makes a route without a row here a compile error.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { AuditEntry, AuditResponse } from "../../src/protocol/mod.ts";
import { type RouteRule, ROUTES } from "../../src/tracker/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { RawApi, registration } from "../../testing/raw_api.ts";
import { waitFor } from "../../testing/process.ts";

const CALLERS = ["none", "read", "submit", "operator", "admin", "revoked", "expired", "agent", "join"] as const;
type Caller = typeof CALLERS[number];

const CLIENTS: Caller[] = ["read", "submit", "operator", "admin"];
const OPERATORS: Caller[] = ["operator", "admin"];

interface Call {
  method: string;
  path: string;
  body?: unknown;
  /** The status of an allowed call. */
  ok: number;
}

interface Row {
  allowed: readonly Caller[];
  /** The call `caller` makes (each may get its own name or target). */
  call: (caller: Caller) => Call;
}

/** Ids of what the calls act on, made before the table runs. */
interface Fixture {
  jobId: string;
  /** A job submitted by the submit token, which it may cancel. */
  ownJobId: string;
  /** A stored blob's SHA-256 (BLOB_BYTES). */
  blob: string;
}

const BLOB_BYTES = new TextEncoder().encode("a file shipped with a job\n");

const LOAD = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 2, running: 0, freeSlots: 1 };
const NO_AGENT_JOB = {
  name: "waits",
  tasks: [{ name: "t", run: "true", constraints: [{ label: "nowhere", exists: true }] }],
};
/** A periodic job that launches nothing by itself while the test runs (New Year's midnight). */
function periodicJob(name: string) {
  return { ...NO_AGENT_JOB, name, schedule: "0 0 1 1 *" };
}

function table(f: Fixture): Record<keyof typeof ROUTES, Row> {
  return {
    ca: { allowed: CALLERS, call: () => ({ method: "GET", path: "/v1/ca", ok: 200 }) },
    // Probes answer anyone (a revoked token too: it is not even read), and say nothing of jobs (below).
    healthz: { allowed: CALLERS, call: () => ({ method: "GET", path: "/healthz", ok: 200 }) },
    readyz: { allowed: CALLERS, call: () => ({ method: "GET", path: "/readyz", ok: 200 }) },
    // Counts a read token can list already; never an agent's credential nor the join token.
    metrics: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/metrics", ok: 200 }) },
    register: {
      allowed: ["join", "admin"],
      call: (c) => ({ method: "POST", path: "/v1/agents/register", body: registration(`new-${c}`), ok: 200 }),
    },
    hello: {
      allowed: ["agent"],
      call: () => {
        const { name: _, ...body } = registration("x");
        return { method: "POST", path: "/v1/agent/hello", body: { ...body, holding: [] }, ok: 200 };
      },
    },
    heartbeat: {
      allowed: ["agent"],
      call: () => ({ method: "POST", path: "/v1/agent/heartbeat", body: { load: LOAD }, ok: 200 }),
    },
    claim: {
      allowed: ["agent"],
      call: () => ({ method: "POST", path: "/v1/agent/claim", body: { holding: [], waitMs: 0 }, ok: 200 }),
    },
    report: {
      allowed: ["agent"],
      call: () => ({
        method: "POST",
        path: "/v1/agent/report",
        body: { events: [{ type: "started", taskId: "nothing.0", attempt: 1, at: 1 }] },
        ok: 200,
      }),
    },
    selfDrain: {
      allowed: ["agent"],
      call: () => ({ method: "POST", path: "/v1/agent/drain", body: { graceMs: 60_000 }, ok: 200 }),
    },
    leave: { allowed: ["agent"], call: () => ({ method: "POST", path: "/v1/agent/leave", body: {}, ok: 200 }) },
    // A follower's agents' heartbeats, sent on with the admin token of its data directory: never an agent's
    // own credential (it would keep other agents alive), nor any lesser token.
    relayHeartbeats: {
      allowed: ["admin"],
      call: () => ({
        method: "POST",
        path: "/v1/trackers/heartbeats",
        body: { heartbeats: [{ agentId: "nobody", load: LOAD, ageMs: 0 }] },
        ok: 200,
      }),
    },
    // A follower's agents' claims, pooled at the leader: the admin token only, as for heartbeats.
    poolClaims: {
      allowed: ["admin"],
      call: () => ({
        method: "POST",
        path: "/v1/trackers/claims",
        body: { pool: "roles", first: true, open: [], ended: [], waitMs: 0 },
        ok: 200,
      }),
    },

    listAgents: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/agents", ok: 200 }) },
    drainAgent: {
      allowed: OPERATORS,
      call: () => ({ method: "POST", path: "/v1/agents/target/drain", body: { graceMs: 1000 }, ok: 200 }),
    },
    resumeAgent: {
      allowed: OPERATORS,
      call: () => ({ method: "POST", path: "/v1/agents/target/resume", body: {}, ok: 200 }),
    },
    setWeight: {
      allowed: OPERATORS,
      call: () => ({ method: "PUT", path: "/v1/agents/target/weight", body: { weight: 2 }, ok: 200 }),
    },
    approveAgent: {
      allowed: ["admin"],
      call: () => ({ method: "POST", path: "/v1/agents/target/approve", body: {}, ok: 200 }),
    },
    removeAgent: {
      allowed: ["admin"],
      call: () => ({ method: "DELETE", path: "/v1/agents/doomed", ok: 200 }),
    },

    submitJob: {
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: "/v1/jobs", body: { spec: NO_AGENT_JOB }, ok: 201 }),
    },
    listJobs: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/jobs", ok: 200 }) },
    getJob: { allowed: CLIENTS, call: () => ({ method: "GET", path: `/v1/jobs/${f.jobId}`, ok: 200 }) },
    watchJob: {
      allowed: CLIENTS,
      call: () => ({ method: "GET", path: `/v1/jobs/${f.jobId}/watch?since=0&waitMs=0`, ok: 200 }),
    },
    cancelJob: {
      // Its own job for the submit token; others' jobs need the operator role (checked below).
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: `/v1/jobs/${f.ownJobId}/cancel`, ok: 200 }),
    },
    gc: { allowed: ["admin"], call: () => ({ method: "POST", path: "/v1/gc", body: { budgetMs: 1000 }, ok: 200 }) },
    rerunJob: {
      // Its own job for the submit token (a new job each time); others' jobs need the operator role.
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: `/v1/jobs/${f.ownJobId}/rerun`, body: {}, ok: 201 }),
    },
    listPeriodic: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/periodic", ok: 200 }) },
    registerPeriodic: {
      allowed: ["submit", "operator", "admin"],
      call: (c) => ({ method: "POST", path: "/v1/periodic", body: { spec: periodicJob(`by-${c}`) }, ok: 201 }),
    },
    // The submit token's own periodic job; others' need the operator role (checked below).
    pausePeriodic: {
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: "/v1/periodic/own/pause", ok: 200 }),
    },
    resumePeriodic: {
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: "/v1/periodic/own/resume", ok: 200 }),
    },
    runPeriodic: {
      allowed: ["submit", "operator", "admin"],
      call: () => ({ method: "POST", path: "/v1/periodic/own/run", ok: 200 }),
    },
    deletePeriodic: {
      allowed: ["submit", "operator", "admin"],
      call: (c) => ({ method: "DELETE", path: `/v1/periodic/doomed-${c}`, ok: 200 }),
    },
    getTask: { allowed: CLIENTS, call: () => ({ method: "GET", path: `/v1/tasks/${f.jobId}.0`, ok: 200 }) },
    taskLogs: { allowed: CLIENTS, call: () => ({ method: "GET", path: `/v1/tasks/${f.jobId}.0/logs`, ok: 200 }) },
    jobLogs: { allowed: CLIENTS, call: () => ({ method: "GET", path: `/v1/jobs/${f.jobId}/logs`, ok: 200 }) },

    // Blobs: uploaded by whoever submits and by agents (artifacts), read by agents and read tokens.
    blobInfo: {
      allowed: ["submit", "operator", "admin", "agent"],
      call: () => ({ method: "GET", path: `/v1/blobs/${f.blob}`, ok: 200 }),
    },
    completeBlob: {
      allowed: ["submit", "operator", "admin", "agent"],
      call: () => ({ method: "POST", path: `/v1/blobs/${f.blob}`, body: { size: BLOB_BYTES.length }, ok: 200 }),
    },
    putBlobChunk: {
      allowed: ["submit", "operator", "admin", "agent"],
      call: () => ({ method: "PUT", path: `/v1/blobs/${f.blob}/chunks/0`, body: BLOB_BYTES, ok: 200 }),
    },
    readBlobChunk: {
      allowed: [...CLIENTS, "agent"],
      call: () => ({ method: "GET", path: `/v1/blobs/${f.blob}/chunks/0`, ok: 200 }),
    },

    // Channels: read tokens read and watch them, submit tokens set and delete keys (a task's own calls come
    // through its agent: tests/channels_task_test.ts).
    listChannels: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/channels", ok: 200 }) },
    listChannelKeys: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/channels/roles", ok: 200 }) },
    watchChannel: {
      allowed: CLIENTS,
      call: () => ({ method: "GET", path: "/v1/channels/roles/watch?after=0&waitMs=0", ok: 200 }),
    },
    getChannelKey: {
      allowed: CLIENTS,
      call: () => ({ method: "GET", path: "/v1/channels/roles/keys/fixed", ok: 200 }),
    },
    setChannelKey: {
      allowed: ["submit", "operator", "admin"],
      call: (c) => ({ method: "PUT", path: `/v1/channels/roles/keys/by-${c}`, body: { value: c }, ok: 201 }),
    },
    deleteChannelKey: {
      allowed: ["submit", "operator", "admin"],
      call: (c) => ({ method: "DELETE", path: `/v1/channels/roles/keys/by-${c}`, ok: 200 }),
    },

    listTokens: { allowed: CLIENTS, call: () => ({ method: "GET", path: "/v1/tokens", ok: 200 }) },
    createToken: {
      allowed: ["admin"],
      call: (c) => ({ method: "POST", path: "/v1/tokens", body: { name: `by-${c}`, role: "read" }, ok: 201 }),
    },
    revokeToken: { allowed: ["admin"], call: () => ({ method: "DELETE", path: "/v1/tokens/victim", ok: 200 }) },
    rotateJoin: {
      allowed: ["admin"],
      call: () => ({ method: "POST", path: "/v1/join-token/rotate", body: {}, ok: 200 }),
    },
    // Agents learn the other trackers from it (agent/tracker_list.ts).
    listTrackers: { allowed: [...CLIENTS, "agent"], call: () => ({ method: "GET", path: "/v1/trackers", ok: 200 }) },

    setSecret: {
      allowed: ["admin"],
      call: (c) => ({ method: "PUT", path: `/v1/secrets/BY_${c}`, body: { value: `value-of-${c}` }, ok: 200 }),
    },
    listSecrets: { allowed: ["admin"], call: () => ({ method: "GET", path: "/v1/secrets", ok: 200 }) },
    deleteSecret: { allowed: ["admin"], call: () => ({ method: "DELETE", path: "/v1/secrets/DOOMED", ok: 200 }) },
    // Who changed what, and from where: the admin's alone.
    listAudit: { allowed: ["admin"], call: () => ({ method: "GET", path: "/v1/audit?limit=5", ok: 200 }) },
  };
}

async function createToken(cluster: Cluster, role: string, name: string, expires?: string): Promise<string> {
  const result = await cluster.cli([
    "token",
    "create",
    "--role",
    role,
    "--name",
    name,
    ...(expires ? ["--expires", expires] : []),
  ]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

Deno.test("every route with every caller: each role reaches its routes, everyone else gets 401 or 403 saying why", async () => {
  const cluster = await Cluster.start();
  const api = await RawApi.of(cluster);
  try {
    const tokens: Record<Caller, string> = {
      none: "",
      read: await createToken(cluster, "read", "reader"),
      submit: await createToken(cluster, "submit", "ci"),
      operator: await createToken(cluster, "operator", "ops"),
      admin: cluster.adminToken,
      revoked: await createToken(cluster, "admin", "revoked-admin"),
      expired: await createToken(cluster, "admin", "short-lived", "1s"),
      agent: "",
      join: cluster.joinToken,
    };
    const expiresAt = Date.now() + 1000;
    assert.equal((await cluster.cli(["token", "revoke", "revoked-admin"])).code, 0);
    await createToken(cluster, "read", "victim");
    const doomed = await api.request("PUT", "/v1/secrets/DOOMED", tokens.admin, { value: "to-be-deleted" });
    assert.equal(doomed.status, 200, doomed.text);
    for (const name of ["target", "doomed", "agent"]) {
      const answer = await api.request("POST", "/v1/agents/register", cluster.joinToken, registration(name));
      assert.equal(answer.status, 200, answer.text);
      if (name === "agent") tokens.agent = (answer.json as { credential: string }).credential;
    }
    const submit = async (token: string) => {
      const answer = await api.request("POST", "/v1/jobs", token, { spec: NO_AGENT_JOB });
      assert.equal(answer.status, 201, answer.text);
      return (answer.json as { jobId: string }).jobId;
    };
    const blob = createHash("sha256").update(BLOB_BYTES).digest("hex");
    const put = await api.request("PUT", `/v1/blobs/${blob}/chunks/0`, tokens.admin, BLOB_BYTES);
    assert.equal(put.status, 200, put.text);
    const stored = await api.request("POST", `/v1/blobs/${blob}`, tokens.admin, { size: BLOB_BYTES.length });
    assert.equal(stored.status, 200, stored.text);
    const fixed = await api.request("PUT", "/v1/channels/roles/keys/fixed", tokens.admin, { value: "v" });
    assert.equal(fixed.status, 201, fixed.text);
    const fixture = { jobId: await submit(cluster.adminToken), ownJobId: await submit(tokens.submit), blob };
    for (const [name, token] of [["own", tokens.submit], ["theirs", tokens.admin]]) {
      const answer = await api.request("POST", "/v1/periodic", token, { spec: periodicJob(name) });
      assert.equal(answer.status, 201, answer.text);
    }
    for (const caller of ["submit", "operator", "admin"]) {
      const answer = await api.request("POST", "/v1/periodic", tokens.submit, {
        spec: periodicJob(`doomed-${caller}`),
      });
      assert.equal(answer.status, 201, answer.text);
    }
    await waitFor("the short-lived token to expire", () => Date.now() > expiresAt + 50, { timeoutMs: 5000 });

    const rows = table(fixture);
    const seen: string[] = [];
    for (const [route, row] of Object.entries(rows)) {
      for (const caller of CALLERS) {
        const call = row.call(caller);
        const answer = await api.request(call.method, call.path, tokens[caller], call.body);
        const where = `${route} (${call.method} ${call.path}) by ${caller}: ${answer.status} ${
          answer.text.slice(0, 300)
        }`;
        seen.push(`${route}:${caller}:${answer.status}`);
        if (row.allowed.includes(caller)) {
          assert.equal(answer.status, call.ok, where);
          if (route === "rotateJoin") {
            const old = await api.request("POST", "/v1/agents/register", tokens.join, registration("after-rotation"));
            assert.equal(old.status, 401, "the old join token is refused at once");
            tokens.join = (answer.json as { token: string }).token;
          }
          continue;
        }
        const error = (answer.json as { error: { code: string; message: string } }).error;
        if (caller === "none" || caller === "revoked" || caller === "expired") {
          assert.equal(answer.status, 401, where);
          assert.equal(error.code, "unauthorized", where);
          const why = {
            none: /A token is required/,
            revoked: /"revoked-admin" was revoked at/,
            expired: /"short-lived" expired at/,
          };
          assert.match(error.message, why[caller], where);
        } else {
          assert.equal(answer.status, 403, where);
          assert.equal(error.code, "forbidden", where);
          assert.match(
            error.message,
            /needs the (read|submit|operator|admin) role|needs the join token|for agents/,
            where,
          );
        }
      }
    }
    assert.equal(seen.length, Object.keys(ROUTES).length * CALLERS.length);

    // A path no route has is "no route" for a token, and tells a stranger nothing.
    assert.equal((await api.request("GET", "/v1/nothing", tokens.admin)).status, 404);
    assert.equal((await api.request("GET", "/v1/nothing", "")).status, 401);

    // The probes tell a stranger a word, nothing of the jobs and agents above; a HEAD of /metrics (a
    // method the table has no row for) is refused as its GET is.
    for (const path of ["/healthz", "/readyz"]) assert.equal((await api.request("GET", path, "")).text, "ok\n");
    assert.equal((await api.request("HEAD", "/metrics", "")).status, 401);
    assert.equal((await api.request("HEAD", "/metrics", tokens.agent)).status, 403);
    assert.equal((await api.request("HEAD", "/metrics", tokens.read)).status, 200);

    // Cancelling: a submit token cancels its own jobs only.
    const others = await api.request("POST", `/v1/jobs/${fixture.jobId}/cancel`, tokens.submit);
    assert.equal(others.status, 403);
    assert.equal(
      (others.json as { error: { message: string } }).error.message,
      `Cancelling another token's job needs the operator role; this token ("ci") has the submit role`,
    );
    // Periodic jobs: a submit token acts on its own only, and does not replace another token's.
    for (const [method, path] of [["POST", "/v1/periodic/theirs/pause"], ["DELETE", "/v1/periodic/theirs"]]) {
      const answer = await api.request(method, path, tokens.submit);
      assert.equal(answer.status, 403, answer.text);
      assert.match((answer.json as { error: { message: string } }).error.message, /another token's periodic job/);
    }
    const replace = await api.request("POST", "/v1/periodic", tokens.submit, { spec: periodicJob("theirs") });
    assert.equal(replace.status, 403, replace.text);
    assert.equal(
      (replace.json as { error: { message: string } }).error.message,
      `Replacing another token's periodic job needs the operator role; this token ("ci") has the submit role`,
    );
    const job = await api.request("GET", `/v1/jobs/${fixture.ownJobId}`, tokens.read);
    assert.equal((job.json as { submittedBy: string }).submittedBy, "ci");

    // The audit trail has every change the walk above asked for: each action once done by the admin,
    // each refused one (403) by its caller's own name, and nothing of the callers without an accepted
    // token (401), which are only counted.
    const entries: AuditEntry[] = [];
    for (let before: number | null = Number.MAX_SAFE_INTEGER; before !== null;) {
      const page = await api.request("GET", `/v1/audit?limit=1000&before=${before}`, tokens.admin);
      assert.equal(page.status, 200, page.text);
      const { entries: got, next } = page.json as AuditResponse;
      entries.push(...got);
      before = next;
    }
    const done = (actor: string, outcome: string) =>
      new Set(entries.filter((e) => e.actor === actor && e.outcome === outcome).map((e) => e.action));
    const actions = (Object.values(ROUTES) as RouteRule[]).flatMap((rule) => rule.audit ? [rule.audit] : []);
    const joined = done("join token", "ok");
    const byAdmin = done("admin", "ok");
    for (const action of actions) {
      assert.ok(byAdmin.has(action) || (action === "agent.register" && joined.has(action)), `${action} done: recorded`);
    }
    assert.ok(done("reader", "forbidden").has("token.create"), "a read token's refused token create is recorded");
    assert.ok(done("ops", "forbidden").has("secret.set"));
    assert.ok(done("ci", "forbidden").has("job.cancel"), "cancelling another token's job, refused");
    assert.ok(done(`agent agent`, "forbidden").has("job.submit"), "an agent's credential is named by its agent");
    for (const stranger of ["revoked-admin", "short-lived"]) {
      assert.deepEqual(
        entries.filter((e) => e.actor === stranger),
        [],
        `${stranger}'s refused calls (401) are not stored`,
      );
    }
    const metrics = await api.request("GET", "/metrics", tokens.read);
    const unauthenticated = Number(metrics.text.match(/^fabric_unauthenticated_requests_total (\d+)/m)?.[1]);
    assert.ok(unauthenticated >= 3 * actions.length, `401s counted: ${unauthenticated}`);
  } finally {
    api.close();
    await cluster.stop();
  }
});
