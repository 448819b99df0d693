/**
 * The B3 baseline: the smallest server that answers the agent routes the way fabric's tracker does,
 * over the same TLS (fabric's own certificate and key) with Deno.serve, and nothing else: tokens
 * compared as strings, state in memory, no store, no placement rules. Long polls are held the same
 * way. A job is only a count of canned assignments handed to whichever claim comes first.
 *
 * With `--http fabric` the same handler runs behind fabric's own HTTPS layer (the tracker's
 * node:https adapter) instead of Deno.serve: the cost of that layer alone, without the tracker.
 * With `--http hono-node` it runs behind `@hono/node-server`'s adapter on the same node:https server
 * (the same timeouts, TCP_NODELAY, connection cap and accept guard as fabric's layer): what that
 * library's bridge costs against fabric's hand-written one (bench/bridge.ts compares them);
 * `--http hono-node-native` the same without its lighter global Request and Response.
 *
 *   deno run -A bench/bare_tracker.ts --cert FILE --key FILE --join TOKEN --admin TOKEN
 *     [--http deno|fabric|hono-node|hono-node-native]
 */
import https from "node:https";
import { once } from "node:events";
import { parseArgs } from "node:util";
import type { Assignment } from "../src/protocol/mod.ts";

interface Waiter {
  wake: () => void;
}

const agents = new Map<string, { secret: string; slots: number }>();
const claimWaiters = new Set<Waiter>();
const jobWaiters = new Set<Waiter>();
const job = { id: "", total: 0, handedOut: 0, finished: 0 };

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function bearer(request: Request): string {
  const header = request.headers.get("authorization") ?? "";
  return header.startsWith("Bearer ") ? header.slice(7) : "";
}

/** Resolves after `ms` or when woken, whichever is first. */
function wait(waiters: Set<Waiter>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const waiter: Waiter = {
      wake: () => {
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve();
      },
    };
    const timer = setTimeout(waiter.wake, ms);
    waiters.add(waiter);
  });
}

function wakeAll(waiters: Set<Waiter>): void {
  for (const waiter of [...waiters]) waiter.wake();
}

/** A canned assignment shaped like fabric's, so that answers weigh about the same on the wire. */
function assignment(ord: number): Assignment {
  return {
    taskId: `${job.id}.${ord}`,
    attempt: 1,
    jobId: job.id,
    jobName: "placement",
    name: "t",
    index: ord,
    count: job.total,
    matrix: null,
    kind: "shell",
    run: "true",
    shell: "bash",
    env: {},
    permissions: { net: false, read: [], write: [], env: [], run: [], channels: [] },
    sandbox: true,
    timeoutMs: null,
    graceMs: 5000,
    memoryBytes: null,
    diskBytes: null,
    pids: 1024,
    maxOutputBytes: 67108864,
    needs: {},
    signed: null,
  };
}

/** Up to `slots` of the job's tasks not handed out yet. */
function handOut(slots: number) {
  const take = Math.max(0, Math.min(slots, job.total - job.handedOut));
  const assignments = Array.from({ length: take }, (_, i) => assignment(job.handedOut + i));
  job.handedOut += take;
  return assignments;
}

function summary() {
  const done = job.finished >= job.total;
  return {
    id: job.id,
    name: "placement",
    state: done ? "succeeded" : "running",
    cancelling: false,
    counts: {},
    total: job.total,
    createdAt: new Date().toISOString(),
    finishedAt: null,
    version: done ? 2 : 1,
  };
}

function agentOf(request: Request): { secret: string; slots: number } | null {
  const [id, secret] = bearer(request).split(".");
  const agent = agents.get(id);
  return agent && agent.secret === secret ? agent : null;
}

async function handle(request: Request, tokens: { join: string; admin: string }): Promise<Response> {
  const path = new URL(request.url).pathname;
  const body = request.method === "POST" ? await request.json().catch(() => ({})) : null;
  if (path === "/v1/agents/register") {
    if (bearer(request) !== tokens.join) return json({ error: { code: "unauthorized" } }, 401);
    const id = crypto.randomUUID().slice(0, 12);
    const secret = crypto.randomUUID();
    agents.set(id, { secret, slots: body.slots ?? 1 });
    return json({ agentId: id, name: body.name, credential: `${id}.${secret}`, heartbeatMs: 5000, ttlMs: 15000 });
  }
  if (path.startsWith("/v1/agent/")) {
    const agent = agentOf(request);
    if (!agent) return json({ error: { code: "unauthorized" } }, 401);
    if (path === "/v1/agent/heartbeat") {
      return json({ state: "ready", heartbeatMs: 5000, ttlMs: 15000, drainDeadline: null });
    }
    if (path === "/v1/agent/report") {
      let freed = 0;
      for (const event of body.events ?? []) if (event.type === "finished") freed++;
      job.finished += freed;
      if (job.total > 0 && job.finished >= job.total) wakeAll(jobWaiters);
      // As fabric does: the freed slots' new work rides on the answer.
      return json({ stale: [], assignments: handOut(freed) });
    }
    if (path === "/v1/agent/claim") {
      const deadline = Date.now() + Math.min(body.waitMs ?? 25_000, 30_000);
      for (;;) {
        const assignments = handOut(agent.slots);
        if (assignments.length > 0) return json({ assignments, stop: [] });
        const left = deadline - Date.now();
        if (left <= 0) return json({ assignments: [], stop: [] });
        await wait(claimWaiters, left);
      }
    }
  }
  if (bearer(request) !== tokens.admin) return json({ error: { code: "unauthorized" } }, 401);
  if (path === "/v1/jobs" && request.method === "POST") {
    const count = (body.spec?.tasks ?? []).reduce((n: number, t: { count?: number }) => n + (t.count ?? 1), 0);
    Object.assign(job, { id: `job${Date.now().toString(36)}`, total: count, handedOut: 0, finished: 0 });
    wakeAll(claimWaiters);
    return json({ jobId: job.id, name: "placement", tasks: count }, 201);
  }
  const watch = path.match(/^\/v1\/jobs\/([^/]+)\/watch$/);
  if (watch) {
    const waitMs = Number(new URL(request.url).searchParams.get("waitMs") ?? 25_000);
    if (job.finished < job.total) await wait(jobWaiters, Math.min(waitMs, 30_000));
    return json(summary());
  }
  return json({ error: { code: "not_found" } }, 404);
}

type Handler = (request: Request) => Promise<Response>;

/** fabric's HTTPS layer, if this checkout has one to borrow (looked up at run time: it may move). */
async function serveLikeFabric(cert: string, key: string, handler: Handler): Promise<number> {
  const module = await import(new URL("../src/tracker/https_server.ts", import.meta.url).href).catch(() => null);
  if (typeof module?.serveHttps !== "function") throw new Error("this checkout has no src/tracker/https_server.ts");
  const server = await module.serveHttps({ hostname: "127.0.0.1", port: 0, cert, key }, handler);
  return server.port;
}

/**
 * `@hono/node-server` on the server fabric's layer builds, with nothing of fabric's in the request's
 * path: no admission, the body read (and the Request and Response made) the library's way. By
 * default it replaces the global Request and Response with its lighter ones; `native` keeps Deno's.
 */
async function serveWithHonoNode(cert: string, key: string, handler: Handler, native: boolean): Promise<number> {
  const tracker = new URL("../src/tracker/", import.meta.url).href;
  const { createAdaptorServer } = await import("@hono/node-server");
  const { TIMEOUTS } = await import(`${tracker}https_server.ts`);
  const { capConnections, connectionCap, openFileLimit } = await import(`${tracker}http/connection_cap.ts`);
  const { guardListener } = await import(`${tracker}http/accept_guard.ts`);
  const server = createAdaptorServer({
    fetch: handler,
    overrideGlobalObjects: !native,
    createServer: https.createServer,
    serverOptions: {
      cert,
      key,
      handshakeTimeout: TIMEOUTS.handshake,
      headersTimeout: TIMEOUTS.headers,
      requestTimeout: TIMEOUTS.request,
      connectionsCheckingInterval: TIMEOUTS.check,
    },
  }) as https.Server;
  // As fabric's layer does, and for the same reason (the comment atop src/tracker/https_server.ts).
  server.on("secureConnection", (socket) => socket.setNoDelay(true));
  server.on("tlsClientError", () => {});
  server.keepAliveTimeout = TIMEOUTS.keepAlive;
  capConnections(server, connectionCap(openFileLimit()));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  guardListener(server, { hostname: "127.0.0.1", port, log: () => {} });
  return port;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      cert: { type: "string" },
      key: { type: "string" },
      join: { type: "string" },
      admin: { type: "string" },
      http: { type: "string", default: "deno" },
    },
  });
  if (!values.cert || !values.key || !values.join || !values.admin) {
    throw new Error("--cert, --key, --join and --admin are required");
  }
  const tokens = { join: values.join, admin: values.admin };
  const cert = await Deno.readTextFile(values.cert);
  const key = await Deno.readTextFile(values.key);
  const handler = (request: Request) => handle(request, tokens);
  const listening = (port: number) => console.log(`bare tracker listening on https://127.0.0.1:${port}`);
  if (values.http === "fabric") listening(await serveLikeFabric(cert, key, handler));
  else if (values.http === "hono-node" || values.http === "hono-node-native") {
    listening(await serveWithHonoNode(cert, key, handler, values.http === "hono-node-native"));
  } else if (values.http !== "deno") {
    throw new Error(`--http ${values.http}: one of deno, fabric, hono-node, hono-node-native`);
  } else Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen: ({ port }) => listening(port) }, handler);
}
