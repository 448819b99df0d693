/**
 * The HTTP bridge: fabric's hand-written node:https bridge (src/tracker/https_server.ts) against
 * `@hono/node-server`, the same canned handler (bench/bare_tracker.ts) behind each. What is compared
 * is the server's CPU time (user + system, all threads, from /proc) per request, not wall time: on
 * this shared machine a busy minute stretches wall time many times over, CPU time far less. Each run
 * is a fresh server process; the variants alternate (A B, then B A, ...) and each pair's ratio is
 * taken alone, so that a slow spell moves both sides of a pair alike. Not part of `deno task bench`.
 *
 *   deno run -A bench/bridge.ts [--pairs 5] [--only agents|reports] [--agents 1000] [--window-ms 25000]
 *     [--reports 8000] [--variants fabric,hono-node]
 *
 * A variant is an `--http` of bench/bare_tracker.ts (deno, fabric, hono-node), optionally with `@DIR`:
 * that checkout's bare tracker and HTTPS layer (e.g. `fabric@/tmp/old,fabric` for a change's before and after).
 *
 * Workloads:
 *   agents   B3's: simulated agents (bench/sim_agents.ts) heartbeating every 5 s, one claim long poll
 *            each; after the fleet has grown and settled, CPU over a window against the requests the
 *            fleet made in it.
 *   reports  request-heavy: one agent's reports, 1 to 32 KB of JSON each (1, 2, 4, 8, 16, 32 KB in
 *            turn), 8 at a time on kept-alive connections; CPU over `--reports` of them after a warm-up.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createCa, createServerCert } from "../src/tls/mod.ts";
import { cpuSeconds } from "./proc_stats.ts";
import { Proc, stopAll } from "./procs.ts";
import { SimFleet } from "./sim_fleet.ts";
import { median } from "./stats.ts";
import { sleep } from "./workload.ts";

const BARE = "bench/bare_tracker.ts";
const REPO = new URL("..", import.meta.url).pathname;
const REPORT_SIZES_KB = [1, 2, 4, 8, 16, 32];
const REPORT_CONCURRENCY = 8;
const REPORT_WARMUP = 600;

interface Run {
  workload: string;
  variant: string;
  pair: number;
  requests: number;
  cpuSeconds: number;
  /** Server CPU per request, in microseconds: the figure compared. */
  cpuPerRequestUs: number;
  /** Requests per wall second over the window (load-dependent: shown, not compared). */
  rate: number;
  errors: number;
  load: number;
}

interface Certs {
  ca: string;
  cert: string;
  key: string;
}

interface Server {
  proc: Proc;
  url: string;
  tokens: { join: string; admin: string };
}

async function startServer(variant: string, certs: Certs): Promise<Server> {
  const tokens = { join: `join-${crypto.randomUUID()}`, admin: `admin-${crypto.randomUUID()}` };
  const [http, checkout = REPO] = variant.split("@");
  const bare = join(checkout, BARE);
  const args = ["run", "-A", "--quiet", bare, "--cert", certs.cert, "--key", certs.key, "--http", http];
  const proc = new Proc(`bare ${variant}`, Deno.execPath(), [...args, "--join", tokens.join, "--admin", tokens.admin], {
    cwd: checkout,
  });
  const port = (await proc.waitForLine(/listening on https:\/\/127\.0\.0\.1:(\d+)/))[1];
  return { proc, url: `https://127.0.0.1:${port}`, tokens };
}

async function agentsRun(server: Server, certs: Certs, options: { agents: number; windowMs: number }) {
  const fleet = await SimFleet.start({
    url: server.url,
    caFile: certs.ca,
    joinToken: server.tokens.join,
    prefix: "bridge",
    slots: 2,
    connections: "shared",
  });
  try {
    const grown = await fleet.grow(options.agents, 250);
    if (grown.failed > 0) throw new Error(`${grown.failed} agents could not register: ${fleet.errors[0]}`);
    await sleep(5000);
    const before = { stats: await fleet.stats(), cpu: cpuSeconds(server.proc.pid), at: performance.now() };
    await sleep(options.windowMs);
    const cpu = cpuSeconds(server.proc.pid) - before.cpu;
    const seconds = (performance.now() - before.at) / 1000;
    const after = await fleet.stats();
    return { requests: after.requests - before.stats.requests, cpu, seconds, errors: after.errors };
  } finally {
    await fleet.stop();
  }
}

/** A report body of about `kb` KB: output events, as an agent batches a chatty task's lines. */
function reportBody(kb: number, ord: number): string {
  const line = "x".repeat(200);
  const events = [];
  for (let size = 0; size < kb * 1024 - 300; size += line.length + 90) {
    events.push({ type: "output", taskId: `job.${ord}`, attempt: 1, stream: "stdout", at: 1, data: line });
  }
  return JSON.stringify({ events });
}

async function reportsRun(server: Server, certs: Certs, options: { reports: number }) {
  const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certs.ca)], http1: true, http2: false });
  try {
    const post = async (path: string, token: string, body: string) => {
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        client: http,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 200)}`);
      return text;
    };
    const registered = JSON.parse(await post("/v1/agents/register", server.tokens.join, JSON.stringify({ slots: 2 })));
    const bodies = REPORT_SIZES_KB.map((kb, i) => reportBody(kb, i));
    let errors = 0;
    const send = async (count: number) => {
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          await post("/v1/agent/report", registered.credential, bodies[i % bodies.length]).catch(() => errors++);
        }
      };
      await Promise.all(Array.from({ length: REPORT_CONCURRENCY }, worker));
    };
    await send(REPORT_WARMUP);
    const cpu = cpuSeconds(server.proc.pid);
    const at = performance.now();
    await send(options.reports);
    return {
      requests: options.reports,
      cpu: cpuSeconds(server.proc.pid) - cpu,
      seconds: (performance.now() - at) / 1000,
      errors,
    };
  } finally {
    http.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      pairs: { type: "string", default: "5" },
      only: { type: "string" },
      agents: { type: "string", default: "1000" },
      "window-ms": { type: "string", default: "25000" },
      reports: { type: "string", default: "8000" },
      variants: { type: "string", default: "fabric,hono-node" },
    },
  });
  const workloads = values.only ? values.only.split(",") : ["agents", "reports"];
  const variants = values.variants.split(",");
  if (variants.length !== 2) throw new Error("--variants: two of deno, fabric, hono-node");
  const dir = await Deno.makeTempDir({ prefix: "bridge-bench-" });
  const runs: Run[] = [];
  try {
    const ca = await createCa("bridge bench");
    const server = await createServerCert(ca, ["127.0.0.1"]);
    const certs = { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
    await Deno.writeTextFile(certs.ca, ca.certPem);
    await Deno.writeTextFile(certs.cert, server.certPem);
    await Deno.writeTextFile(certs.key, server.keyPem);
    for (let pair = 0; pair < Number(values.pairs); pair++) {
      for (const workload of workloads) {
        const order = pair % 2 === 0 ? variants : [...variants].reverse();
        for (const variant of order) {
          // A run that fails (a simulator starved past its deadline on the loaded machine) is run again, once.
          const run = await measure(workload, variant, pair, certs, values).catch((error) => {
            console.error(`${workload} ${variant} pair ${pair} failed (${(error as Error).message}); once more`);
            return measure(workload, variant, pair, certs, values);
          });
          runs.push(run);
          console.log(JSON.stringify(run));
        }
      }
    }
  } finally {
    await stopAll();
    await Deno.remove(dir, { recursive: true });
  }
  summarise(runs, workloads, variants);
}

async function measure(
  workload: string,
  variant: string,
  pair: number,
  certs: Certs,
  values: { agents: string; "window-ms": string; reports: string },
): Promise<Run> {
  const server = await startServer(variant, certs);
  try {
    const measured = workload === "agents"
      ? await agentsRun(server, certs, { agents: Number(values.agents), windowMs: Number(values["window-ms"]) })
      : await reportsRun(server, certs, { reports: Number(values.reports) });
    return {
      workload,
      variant,
      pair,
      requests: measured.requests,
      cpuSeconds: measured.cpu,
      cpuPerRequestUs: (measured.cpu / measured.requests) * 1e6,
      rate: measured.requests / measured.seconds,
      errors: measured.errors,
      load: Deno.loadavg()[0],
    };
  } finally {
    await server.proc.stop();
  }
}

/** Each workload's figures per variant, and the median of the pairs' ratios (second variant ÷ first). */
function summarise(runs: Run[], workloads: string[], variants: string[]): void {
  const [a, b] = variants;
  for (const workload of workloads) {
    const of = (variant: string) => runs.filter((r) => r.workload === workload && r.variant === variant);
    const us = (list: Run[]) => list.map((r) => r.cpuPerRequestUs.toFixed(1)).join(", ");
    const ratios = of(a).map((ra) => of(b).find((rb) => rb.pair === ra.pair)!.cpuPerRequestUs / ra.cpuPerRequestUs);
    console.log(`${workload}: CPU per request (µs), in pair order`);
    console.log(`  ${a}: ${us(of(a))} (median ${median(of(a).map((r) => r.cpuPerRequestUs)).toFixed(1)})`);
    console.log(`  ${b}: ${us(of(b))} (median ${median(of(b).map((r) => r.cpuPerRequestUs)).toFixed(1)})`);
    console.log(
      `  ${b} ÷ ${a} per pair: ${ratios.map((r) => r.toFixed(3)).join(", ")}; median ${median(ratios).toFixed(3)}`,
    );
  }
}

if (import.meta.main) await main();
