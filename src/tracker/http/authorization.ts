/**
 * Which route needs whom: the one table of the API's routes and the principal or role each needs.
 * Routes are registered from it (routes.ts), so a route cannot exist without its rule, and the front
 * door asks it before a request's body is read. A path no rule matches is "no route" for everyone.
 */
import { FabricError, type Role, roleIncludes } from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";

/** What a client must hold: a role, and for a route on something owned (a job), a role for others' things. */
export interface ClientNeed {
  who: "client";
  role: Role;
  /** What the route does, for the refusal: "submitting a job". */
  action: string;
  /** Acting on what another token made needs this role instead (a submit token cancels its own jobs only). */
  others?: { role: Role; action: string };
  /** Agents may call it too, with their own credential. */
  agents?: true;
}

export type Need =
  /** No token: the CA, which an agent pins by hash before it sends anything else. */
  | { who: "anyone" }
  /** The join token; an admin token too (it may take back the name of an agent that is registered). */
  | { who: "join" }
  /** An agent, with its own credential. */
  | { who: "agent" }
  | ClientNeed;

export interface RouteRule {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Hono's syntax: `:name` is one path segment. */
  path: string;
  need: Need;
  /**
   * A route that changes something: the action its calls are recorded under in the audit trail
   * (audit.ts), or null for one only an agent calls, acting for itself (its work, not a person's change).
   * Absent for a route that changes nothing (a test walks the table: every other route has it).
   */
  audit?: string | null;
}

const ANYONE: Need = { who: "anyone" };
const JOIN: Need = { who: "join" };
const AGENT: Need = { who: "agent" };

function client(role: Role, action: string, others?: ClientNeed["others"]): ClientNeed {
  return { who: "client", role, action, ...(others ? { others } : {}) };
}

/** A submit token acts on the periodic jobs it registered; on others' with the operator role. */
function periodicOwner(verb: string): ClientNeed {
  return client("submit", `${verb} a periodic job`, {
    role: "operator",
    action: `${verb} another token's periodic job`,
  });
}

/** A rule that keeps its need's own type (a client route's role is known where it is used). */
function rule<N extends Need>(
  method: RouteRule["method"],
  path: string,
  need: N,
  audit?: string | null,
): RouteRule & { need: N } {
  return audit === undefined ? { method, path, need } : { method, path, need, audit };
}

/** Every route of the API. */
export const ROUTES = {
  ca: rule("GET", "/v1/ca", ANYONE),

  // Probes for load balancers and orchestrators, outside /v1/: their bodies say "ok" or why the tracker
  // is not ready, nothing of its jobs or agents (metrics/health.ts).
  healthz: rule("GET", "/healthz", ANYONE),
  readyz: rule("GET", "/readyz", ANYONE),
  // Counts and durations: nothing a read token cannot list already (/v1/jobs, /v1/agents), so a read
  // token, e.g. a scraper's; without a token only on --metrics-listen, an address the operator chose.
  metrics: rule("GET", "/metrics", client("read", "reading the metrics")),

  register: rule("POST", "/v1/agents/register", JOIN, "agent.register"),
  hello: rule("POST", "/v1/agent/hello", AGENT, null),
  heartbeat: rule("POST", "/v1/agent/heartbeat", AGENT, null),
  claim: rule("POST", "/v1/agent/claim", AGENT, null),
  report: rule("POST", "/v1/agent/report", AGENT, null),
  selfDrain: rule("POST", "/v1/agent/drain", AGENT, null),
  leave: rule("POST", "/v1/agent/leave", AGENT, null),
  // A follower's agents' heartbeats, sent on to the leader once a second (heartbeat_relay.ts), with the
  // admin token every tracker's data directory holds: a tracker has the store, so the admin role gives it
  // nothing it lacks, and it needs no kind of token trackers alone would hold. Unrecorded as a heartbeat is.
  relayHeartbeats: rule("POST", "/v1/trackers/heartbeats", client("admin", "relaying agents' heartbeats"), null),
  // A follower's agents' claims, held by the follower and pooled at the leader (claim_relay.ts): the same
  // admin token, for the same reasons; unrecorded as a claim is.
  poolClaims: rule("POST", "/v1/trackers/claims", client("admin", "relaying agents' claims"), null),

  listAgents: rule("GET", "/v1/agents", client("read", "listing agents")),
  drainAgent: rule("POST", "/v1/agents/:name/drain", client("operator", "draining an agent"), "agent.drain"),
  resumeAgent: rule("POST", "/v1/agents/:name/resume", client("operator", "resuming an agent"), "agent.resume"),
  setWeight: rule("PUT", "/v1/agents/:name/weight", client("operator", "setting an agent's weight"), "agent.weight"),
  approveAgent: rule("POST", "/v1/agents/:name/approve", client("admin", "approving an agent"), "agent.approve"),
  removeAgent: rule("DELETE", "/v1/agents/:name", client("admin", "removing an agent"), "agent.remove"),

  submitJob: rule("POST", "/v1/jobs", client("submit", "submitting a job"), "job.submit"),
  listJobs: rule("GET", "/v1/jobs", client("read", "listing jobs")),
  getJob: rule("GET", "/v1/jobs/:id", client("read", "reading a job")),
  watchJob: rule("GET", "/v1/jobs/:id/watch", client("read", "watching a job")),
  rerunJob: rule(
    "POST",
    "/v1/jobs/:id/rerun",
    client("submit", "re-running a job", { role: "operator", action: "re-running another token's job" }),
    "job.rerun",
  ),
  cancelJob: rule(
    "POST",
    "/v1/jobs/:id/cancel",
    client("submit", "cancelling a job", { role: "operator", action: "cancelling another token's job" }),
    "job.cancel",
  ),
  // Periodic jobs: as jobs, a submit token registers them and acts on its own; others' need an operator.
  listPeriodic: rule("GET", "/v1/periodic", client("read", "listing periodic jobs")),
  registerPeriodic: rule(
    "POST",
    "/v1/periodic",
    client("submit", "registering a periodic job", {
      role: "operator",
      action: "replacing another token's periodic job",
    }),
    "periodic.register",
  ),
  pausePeriodic: rule("POST", "/v1/periodic/:name/pause", periodicOwner("pausing"), "periodic.pause"),
  resumePeriodic: rule("POST", "/v1/periodic/:name/resume", periodicOwner("resuming"), "periodic.resume"),
  runPeriodic: rule("POST", "/v1/periodic/:name/run", periodicOwner("running"), "periodic.run"),
  deletePeriodic: rule("DELETE", "/v1/periodic/:name", periodicOwner("deleting"), "periodic.delete"),
  getTask: rule("GET", "/v1/tasks/:id", client("read", "reading a task")),
  // Deletes what retention would delete anyway, only sooner: still the admin's call.
  gc: rule("POST", "/v1/gc", client("admin", "running retention now"), "gc"),
  taskLogs: rule("GET", "/v1/tasks/:id/logs", client("read", "reading a task's logs")),
  jobLogs: rule("GET", "/v1/jobs/:id/logs", client("read", "reading a job's logs")),

  // Files shipped with jobs and tasks' artifacts (blobs): uploaded a chunk at a time by whoever submits
  // the job, or by an agent (a task's artifacts); read by the agents that run it and by read tokens (a
  // blob is named by its hash, which only its job shows).
  blobInfo: rule("GET", "/v1/blobs/:sha256", { ...client("submit", "uploading files"), agents: true }),
  completeBlob: rule(
    "POST",
    "/v1/blobs/:sha256",
    { ...client("submit", "uploading files"), agents: true },
    "blob.store",
  ),
  putBlobChunk: rule(
    "PUT",
    "/v1/blobs/:sha256/chunks/:seq",
    { ...client("submit", "uploading files"), agents: true },
    "blob.chunk",
  ),
  readBlobChunk: rule("GET", "/v1/blobs/:sha256/chunks/:seq", { ...client("read", "reading files"), agents: true }),

  // Channels (tracker/channels.ts): small shared keys jobs coordinate through. Reading them is a read token's,
  // as jobs' output is; setting and deleting them is a submit token's, as running jobs is. Tasks reach them
  // through their agent: an agent's credential only for a task of its that runs now, and only the channels
  // its job grants (channel_access.ts); the list of all channels is not a task's.
  listChannels: rule("GET", "/v1/channels", client("read", "listing channels")),
  listChannelKeys: rule("GET", "/v1/channels/:name", { ...client("read", "reading a channel"), agents: true }),
  watchChannel: rule("GET", "/v1/channels/:name/watch", { ...client("read", "watching a channel"), agents: true }),
  getChannelKey: rule("GET", "/v1/channels/:name/keys/:key", { ...client("read", "reading a channel"), agents: true }),
  setChannelKey: rule(
    "PUT",
    "/v1/channels/:name/keys/:key",
    { ...client("submit", "setting a channel's key"), agents: true },
    "channel.set",
  ),
  deleteChannelKey: rule(
    "DELETE",
    "/v1/channels/:name/keys/:key",
    { ...client("submit", "deleting a channel's key"), agents: true },
    "channel.delete",
  ),

  // Every GET is a read: names, roles and uses, never a secret nor its hash.
  listTokens: rule("GET", "/v1/tokens", client("read", "listing tokens")),
  createToken: rule("POST", "/v1/tokens", client("admin", "creating a token"), "token.create"),
  revokeToken: rule("DELETE", "/v1/tokens/:name", client("admin", "revoking a token"), "token.revoke"),
  rotateJoin: rule("POST", "/v1/join-token/rotate", client("admin", "rotating the join token"), "join.rotate"),

  // The trackers sharing the store: an agent learns where else to go (addresses, as the join command shows).
  listTrackers: rule("GET", "/v1/trackers", { ...client("read", "listing trackers"), agents: true }),
  // Secrets: a value goes in and never comes out. Listing them is the admin's too (unlike every other
  // GET): which secrets exist and which tokens they name is what someone after them would look for first.
  setSecret: rule("PUT", "/v1/secrets/:name", client("admin", "setting a secret"), "secret.set"),
  listSecrets: rule("GET", "/v1/secrets", client("admin", "listing secrets")),
  // Who changed what: names of tokens and of what they acted on, and addresses; the admin's alone.
  listAudit: rule("GET", "/v1/audit", client("admin", "reading the audit trail")),
  deleteSecret: rule("DELETE", "/v1/secrets/:name", client("admin", "deleting a secret"), "secret.delete"),
} as const satisfies Record<string, RouteRule>;

const STATIC = new Map<string, RouteRule>();
const PATTERNS: Array<{ rule: RouteRule; segments: string[] }> = [];
for (const r of Object.values(ROUTES) as RouteRule[]) {
  if (r.path.includes("/:")) PATTERNS.push({ rule: r, segments: r.path.split("/") });
  else STATIC.set(`${r.method} ${r.path}`, r);
}

/** The rule of `method path`, or null when the API has no such route. */
export function findRoute(method: string, path: string): RouteRule | null {
  const exact = STATIC.get(`${method} ${path}`);
  if (exact) return exact;
  const segments = path.split("/");
  for (const { rule, segments: pattern } of PATTERNS) {
    if (rule.method !== method || pattern.length !== segments.length) continue;
    if (pattern.every((p, i) => p.startsWith(":") ? segments[i] !== "" : p === segments[i])) return rule;
  }
  return null;
}

/** Whether `principal` may call a route that needs `need`; a FabricError("forbidden") saying why not. */
export function authorize(principal: Principal, need: Need): void {
  switch (need.who) {
    case "anyone":
      return;
    case "agent":
      if (principal.kind === "agent") return;
      throw new FabricError("forbidden", `This route is for agents, with their own credential; ${whoIs(principal)}`);
    case "join":
      if (principal.kind === "join" || (principal.kind === "client" && principal.role === "admin")) return;
      throw new FabricError(
        "forbidden",
        `Registering an agent needs the join token or an admin token; ${whoIs(principal)}`,
      );
    case "client":
      if (principal.kind === "client" && roleIncludes(principal.role, need.role)) return;
      if (principal.kind === "agent" && need.agents) return;
      throw refusal(principal, need.role, need.action);
  }
}

/**
 * For a route on something owned (a job, by the name of the token that made it): a client that did not
 * make it needs the rule's role for others' things. `owner` null: made before tokens had names.
 */
export function authorizeOwned(principal: Principal, need: Need, owner: string | null): void {
  if (need.who !== "client" || !need.others) return;
  if (principal.kind === "client" && owner !== null && principal.name === owner) return;
  if (principal.kind === "client" && roleIncludes(principal.role, need.others.role)) return;
  throw refusal(principal, need.others.role, need.others.action);
}

function refusal(principal: Principal, role: Role, action: string): FabricError {
  const what = action[0].toUpperCase() + action.slice(1);
  return new FabricError("forbidden", `${what} needs the ${role} role; ${whoIs(principal)}`, { needs: role });
}

function whoIs(principal: Principal): string {
  switch (principal.kind) {
    case "client":
      return `this token ("${principal.name}") has the ${principal.role} role`;
    case "join":
      return "the join token only registers agents";
    case "agent":
      return "an agent's credential acts only as its agent";
  }
}
