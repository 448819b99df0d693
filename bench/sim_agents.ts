/**
 * Simulated agents, many in one process, speaking the real agent protocol over HTTPS: each registers
 * with the join token, heartbeats every few seconds and keeps one claim long poll open; the tasks it
 * is given (by a claim, or with a report's answer) are reported started and finished at once,
 * without running anything. Requests are a real agent's (HTTP/1.1, the same headers, a heartbeat's
 * load sampled as src/agent/load.ts samples it).
 *
 * Connections (`--connections`): `agent` (the default) gives each simulated agent a Deno.HttpClient of
 * its own, as a real agent has one (src/client/tracker_connection.ts) that keeps its connections between
 * requests: its claim long poll and its heartbeats each hold one, and the tracker makes a TLS handshake
 * only when an agent joins. `shared` is one client for all, keeping 128 idle connections: past 128
 * requests in flight each new one is a handshake, which real agents never cost a tracker.
 *
 *   deno run -A bench/sim_agents.ts --url URL --ca FILE --token JOIN [--prefix P] [--slots N]
 *     [--heartbeat-ms MS] [--claim-wait-ms MS] [--connections agent|shared]
 *
 * Controlled by JSON lines on stdin, answering with JSON lines on stdout:
 *   {"cmd":"grow","to":N,"rate":R,"concurrency":C}  -> {"event":"grown","agents":N,"failed":F,"ms":T}
 *   {"cmd":"stats"}                                 -> {"event":"stats",...} (heartbeat p50/p99 since the last)
 *   {"cmd":"stop"}                                  -> exits (so does the end of stdin)
 */
import { parseArgs } from "node:util";
import { sampleLoad } from "../src/agent/mod.ts";
import type { AgentLoad, HeartbeatRequest } from "../src/protocol/mod.ts";

interface SimAgent {
  name: string;
  credential: string;
  slots: number;
  /** Its own client, as a real agent has (`--connections agent`), or the shared one. */
  http: Deno.HttpClient;
}

interface Config {
  url: string;
  token: string;
  prefix: string;
  slots: number;
  heartbeatMs: number;
  claimWaitMs: number;
  /** A new client for an agent: its own, or the shared one. */
  client: () => Deno.HttpClient;
}

/** Idle connections the shared client keeps (`--connections shared`). */
const IDLE_CONNECTIONS = 128;

const counters = { requests: 0, errors: 0, placed: 0, finished: 0, openClaims: 0, heartbeats: 0 };
const agents: SimAgent[] = [];
/** Heartbeat round trips (ms) since the last `stats`: how long the tracker keeps an agent waiting. */
let heartbeatMs: number[] = [];
let stopping = false;
let shared: Deno.HttpClient | null = null;
let errorsShown = 0;

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

function failed(where: string, error: unknown): void {
  counters.errors++;
  // A few are worth seeing; thousands of the same one are not.
  if (errorsShown++ < 5) {
    const cause = (error as Error & { cause?: Error })?.cause?.message;
    emit({ event: "error", where, message: `${(error as Error)?.message ?? error}${cause ? ` (${cause})` : ""}` });
  }
}

async function post<T>(
  config: Config,
  http: Deno.HttpClient,
  path: string,
  token: string,
  body: unknown,
  timeoutMs?: number,
): Promise<T> {
  counters.requests++;
  const response = await fetch(`${config.url}${path}`, {
    method: "POST",
    client: http,
    signal: timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const REGISTER_TIMEOUT_MS = 30_000;

async function register(config: Config, index: number): Promise<SimAgent> {
  const name = `${config.prefix}-${index}`;
  const http = config.client();
  // Bounded: a registration that hangs is counted as failed (with its error) instead of stalling the ramp.
  const answer = await post<{ credential: string }>(config, http, "/v1/agents/register", config.token, {
    name,
    labels: { sim: "true" },
    slots: config.slots,
    version: "0.1.0",
    os: "linux",
    arch: "x86_64",
    capabilities: { sandbox: true, unsandboxed: true, cgroup: null, deno: true, git: true },
    resources: { cpu: 2, memory: 4 * 1024 ** 3, disk: 10 * 1024 ** 3 },
  }, REGISTER_TIMEOUT_MS).catch((error) => {
    if (http !== shared) http.close();
    throw error;
  });
  return { name, credential: answer.credential, slots: config.slots, http };
}

/** The machine's load as a real agent reports it, sampled at most once a second for all the agents here. */
let sampled: { at: number; load: AgentLoad } | null = null;
function machineLoad(slots: number): AgentLoad {
  const now = performance.now();
  if (!sampled || now - sampled.at > 1000) sampled = { at: now, load: sampleLoad(0, slots) };
  return sampled.load;
}

function heartbeatLoop(config: Config, agent: SimAgent): void {
  const beat = () => {
    if (stopping) return;
    counters.heartbeats++;
    const started = performance.now();
    const request: HeartbeatRequest = { load: machineLoad(agent.slots) };
    post(config, agent.http, "/v1/agent/heartbeat", agent.credential, request)
      .then(() => heartbeatMs.push(performance.now() - started))
      .catch((error) => failed("heartbeat", error))
      .finally(() => setTimeout(beat, config.heartbeatMs));
  };
  // Spread over one interval, so that N agents make a steady N/interval heartbeats per second (each then
  // beats an interval after its last answer, as a real agent does: src/agent/heartbeats.ts).
  setTimeout(beat, Math.random() * config.heartbeatMs);
}

interface Claimed {
  assignments: Array<{ taskId: string; attempt: number }>;
}

/** Each task started and finished at once, successfully. */
function doneEvents(work: Claimed["assignments"]): unknown[] {
  const at = Date.now();
  return work.flatMap((a) => [
    { type: "started", taskId: a.taskId, attempt: a.attempt, at },
    { type: "finished", taskId: a.taskId, attempt: a.attempt, at, result: { kind: "exited", code: 0 }, durationMs: 0 },
  ]);
}

async function claimLoop(config: Config, agent: SimAgent): Promise<void> {
  while (!stopping) {
    try {
      counters.openClaims++;
      let claimed: Claimed;
      try {
        claimed = await post<Claimed>(config, agent.http, "/v1/agent/claim", agent.credential, {
          holding: [],
          waitMs: config.claimWaitMs,
        });
      } finally {
        counters.openClaims--;
      }
      // A report's answer may carry the work its freed slots got: it is run (reported) the same way.
      let work = claimed.assignments;
      while (work.length > 0 && !stopping) {
        counters.placed += work.length;
        const answer = await post<Claimed>(config, agent.http, "/v1/agent/report", agent.credential, {
          events: doneEvents(work),
        });
        counters.finished += work.length;
        work = answer.assignments ?? [];
      }
    } catch (error) {
      if (stopping) return;
      failed("claim", error);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** Register agents up to `to`, at most `rate` a second and `concurrency` at once, and start their loops. */
async function grow(config: Config, to: number, rate: number, concurrency: number): Promise<void> {
  const started = performance.now();
  const from = agents.length;
  let next = from;
  let failures = 0;
  const worker = async () => {
    while (next < to && !stopping) {
      const index = next++;
      const due = started + ((index - from) / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      for (let attempt = 1;; attempt++) {
        try {
          const agent = await register(config, index);
          agents.push(agent);
          heartbeatLoop(config, agent);
          claimLoop(config, agent);
          break;
        } catch (error) {
          failed("register", error);
          if (attempt === 3) {
            failures++;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  emit({ event: "grown", agents: agents.length, failed: failures, ms: performance.now() - started });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      url: { type: "string" },
      ca: { type: "string" },
      token: { type: "string" },
      prefix: { type: "string", default: "sim" },
      slots: { type: "string", default: "2" },
      "heartbeat-ms": { type: "string", default: "5000" },
      "claim-wait-ms": { type: "string", default: "25000" },
      connections: { type: "string", default: "agent" },
    },
  });
  if (!values.url || !values.ca || !values.token) throw new Error("--url, --ca and --token are required");
  if (values.connections !== "agent" && values.connections !== "shared") {
    throw new Error(`--connections must be "agent" or "shared", got "${values.connections}"`);
  }
  const caPem = await Deno.readTextFile(values.ca);
  // Each open claim holds a connection; few idle ones are kept, or every burst (a job waking all
  // claims) would leave its peak of connections behind and run the tracker out of descriptors.
  shared = Deno.createHttpClient({ caCerts: [caPem], http1: true, http2: false, poolMaxIdlePerHost: IDLE_CONNECTIONS });
  const perAgent = values.connections === "agent";
  const config: Config = {
    url: values.url,
    token: values.token,
    prefix: values.prefix,
    slots: Number(values.slots),
    heartbeatMs: Number(values["heartbeat-ms"]),
    claimWaitMs: Number(values["claim-wait-ms"]),
    // As FabricClient makes its own (a real agent's): HTTP/1.1, its connections kept while idle.
    client: () => perAgent ? Deno.createHttpClient({ caCerts: [caPem], http1: true, http2: false }) : shared!,
  };
  emit({ event: "ready" });
  let rest = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    for (const line of lines.filter((l) => l.trim())) {
      const command = JSON.parse(line);
      if (command.cmd === "grow") {
        grow(config, command.to, command.rate ?? 200, command.concurrency ?? 16).catch((e) => failed("grow", e));
      } else if (command.cmd === "stats") {
        const sorted = heartbeatMs.sort((a, b) => a - b);
        const at = (p: number) =>
          sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;
        emit({ event: "stats", agents: agents.length, ...counters, heartbeatP50: at(0.5), heartbeatP99: at(0.99) });
        heartbeatMs = [];
      } else if (command.cmd === "stop") {
        stopping = true;
        return;
      }
    }
  }
  stopping = true;
}

if (import.meta.main) {
  await main().catch((error) => {
    console.error(`sim_agents: ${(error as Error).message}`);
    Deno.exit(1);
  });
  // Open long polls would hold the event loop: once told to stop (or orphaned), leave at once.
  Deno.exit(0);
}
