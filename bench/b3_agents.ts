/**
 * B3 agents: how many simulated agents (bench/sim_agents.ts, the real protocol over HTTPS) one
 * tracker carries under half a core. The fleet grows along a ladder; at each step, after the ramp
 * has settled, the tracker's CPU is read from /proc over steady windows (heartbeats every 5 s and a
 * claim long poll per agent), then a job is drained by the fleet for the placement rate.
 *
 * Baseline: the same simulator at the same N against bench/bare_tracker.ts, a minimal Deno.serve
 * TLS server with fabric's certificate answering the same routes with canned JSON. It is what the
 * traffic costs in Deno's HTTPS stack alone, so the ratio is fabric's own share (auth hashing, zod,
 * Hono, state, SQLite, liveness scans) on top of the transport it cannot avoid.
 */
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { FabricClient } from "../src/client/mod.ts";
import { BenchCluster } from "./cluster.ts";
import { cpuSeconds, memory, openFiles } from "./proc_stats.ts";
import { Proc } from "./procs.ts";
import { figure, format } from "./report.ts";
import { SimFleet } from "./sim_fleet.ts";
import { median } from "./stats.ts";
import {
  assertSucceeded,
  type BenchContext,
  secondsSince,
  sleep,
  waitForJob,
  type WorkloadOutcome,
} from "./workload.ts";

const HALF_CORE = 0.5;
const BARE = new URL("./bare_tracker.ts", import.meta.url).pathname;

interface Server {
  pid: number;
  url: string;
  caFile: string;
  joinToken: string;
  client: FabricClient;
}

interface Step {
  agents: number;
  cpu: number[];
  rss: number;
  rssPerAgent: number;
  fds: number;
  /** Cores the simulator used over the windows: near 1 or more, it may be what limits the load. */
  simCpu: number;
  /** Heartbeats per second the fleet achieved over the windows, against the N / 5 s it should. */
  heartbeatRate: number;
  placement: number[];
  /** Agents the tracker sees ready after the windows (fabric only). */
  ready: number | null;
  simErrors: number;
  rampSeconds: number;
}

interface CertFiles {
  ca: string;
  cert: string;
  key: string;
}

interface Plan {
  windowMs: number;
  settleMs: number;
  rate: number;
  placementTasks: number;
  runs: number;
}

export async function agents(context: BenchContext): Promise<WorkloadOutcome> {
  const ladder = context.quick ? [30, 60] : [250, 500, 1000, 2000, 5000, 10_000];
  const plan: Plan = {
    windowMs: context.quick ? 1500 : 10_000,
    settleMs: context.quick ? 1000 : 5000,
    rate: context.quick ? 100 : 250,
    placementTasks: context.quick ? 60 : 2000,
    runs: context.runs,
  };
  const certDir = await Deno.makeTempDir({ dir: context.root, prefix: "b3-cert-" });
  // Kept for the baseline, which presents the same certificate (the same key type costs the same handshakes).
  const cert: CertFiles = {
    ca: join(certDir, "ca.pem"),
    cert: join(certDir, "tracker.pem"),
    key: join(certDir, "tracker.key"),
  };

  const steps: Step[] = [];
  const cluster = await BenchCluster.start(context.root, { heartbeat: "5s" });
  try {
    await copyFile(cluster.caFile, cert.ca);
    await copyFile(cluster.serverCert.cert, cert.cert);
    await copyFile(cluster.serverCert.key, cert.key);
    const server: Server = {
      pid: cluster.tracker.pid,
      url: cluster.url,
      caFile: cluster.caFile,
      joinToken: cluster.joinToken,
      client: cluster.client(),
    };
    const idle = memory(server.pid).rss;
    const fleet = await SimFleet.start({ ...server, prefix: "sim", slots: 2 });
    try {
      for (const n of ladder) {
        const step = await measureStep(server, fleet, n, idle, plan, context);
        step.ready = (await server.client.listAgents()).filter((a) => a.state === "ready").length;
        steps.push(step);
        context.log(`B3 fabric ${describeStep(step)}`);
        if (median(step.cpu) >= HALF_CORE) break;
      }
    } finally {
      await fleet.stop();
    }
  } finally {
    await cluster.stop();
  }

  const under = steps.filter((s) => median(s.cpu) < HALF_CORE);
  const best = under.at(-1) ?? steps[0];
  const bare = await measureBare(context, cert, best.agents, plan);
  context.log(`B3 bare ${describeStep(bare)}`);

  const kb = (s: Step) => s.rssPerAgent / 1024;
  return {
    figures: [
      figure(
        {
          id: "b3.max_agents",
          name: "agents under half a core",
          unit: "agents",
          better: "higher",
          target: { on: "value", op: ">=", value: context.quick ? 30 : 5000 },
          note: `largest step of the ladder ${ladder.join(", ")} under ${HALF_CORE} core (one value, no runs)`,
        },
        [under.at(-1)?.agents ?? 0],
      ),
      figure(
        { id: "b3.cpu", name: `tracker CPU at ${best.agents} agents`, unit: "cores", better: "lower" },
        best.cpu,
        { name: `bare Deno.serve TLS server, same routes, canned JSON, ${best.agents} agents`, samples: bare.cpu },
      ),
      figure(
        { id: "b3.rss_per_agent", name: `RSS per agent at ${best.agents}`, unit: "KB", better: "lower" },
        [kb(best)],
        { name: "bare server, same fleet", samples: [kb(bare)] },
      ),
      figure(
        { id: "b3.placement", name: `placement rate at ${best.agents} agents`, unit: "tasks/s", better: "higher" },
        best.placement,
        { name: "bare server handing out canned assignments (no store, no rules)", samples: bare.placement },
      ),
    ],
    notes: [
      `sim agents: 2 slots, heartbeat 5 s, claim long poll 25 s, ramp ${plan.rate}/s; CPU over ${
        plan.windowMs / 1000
      } s windows after ${plan.settleMs / 1000} s of settling; placement: a ${plan.placementTasks}-task job`,
      ...steps.map((s) => `fabric ${describeStep(s)}`),
      `bare   ${describeStep(bare)}`,
    ],
  };
}

function describeStep(s: Step): string {
  const cpu = `${format(median(s.cpu))} cores [${format(Math.min(...s.cpu))}–${format(Math.max(...s.cpu))}]`;
  return `N=${s.agents}: ${cpu}, RSS ${format(s.rss / 1e6)} MB (${format(s.rssPerAgent / 1024)} KB/agent), ` +
    `${s.fds} fds, heartbeats ${format(s.heartbeatRate)}/s of ${format(s.agents / 5)}, sim ${
      format(s.simCpu)
    } cores, ` +
    `placement ${format(median(s.placement))} tasks/s, ` +
    `${s.ready === null ? "" : `${s.ready} ready, `}ramp ${format(s.rampSeconds)} s, sim errors ${s.simErrors}`;
}

/** Grow the fleet to `n`, let it settle, read CPU over `runs` windows, then drain `runs` jobs. */
async function measureStep(
  server: Server,
  fleet: SimFleet,
  n: number,
  idleRss: number,
  plan: Plan,
  context: BenchContext,
): Promise<Step> {
  const ramp = performance.now();
  const grown = await fleet.grow(n, plan.rate);
  const rampSeconds = secondsSince(ramp);
  if (grown.failed > 0) context.log(`B3: ${grown.failed} of ${n} agents could not register: ${fleet.errors[0]}`);
  await sleep(plan.settleMs);
  const cpu: number[] = [];
  const before = { stats: await fleet.stats(), sim: cpuSeconds(fleet.proc.pid), at: performance.now() };
  for (let i = 0; i < plan.runs; i++) {
    const tracker = cpuSeconds(server.pid);
    const at = performance.now();
    await sleep(plan.windowMs);
    cpu.push((cpuSeconds(server.pid) - tracker) / secondsSince(at));
  }
  const elapsed = secondsSince(before.at);
  const simCpu = (cpuSeconds(fleet.proc.pid) - before.sim) / elapsed;
  const heartbeatRate = ((await fleet.stats()).heartbeats - before.stats.heartbeats) / elapsed;
  const rss = memory(server.pid).rss;
  const fds = openFiles(server.pid);
  const placement: number[] = [];
  for (let i = 0; i < plan.runs; i++) placement.push(await placementRate(server.client, plan.placementTasks));
  const stats = await fleet.stats();
  return {
    agents: grown.agents,
    cpu,
    rss,
    rssPerAgent: (rss - idleRss) / grown.agents,
    fds,
    simCpu,
    heartbeatRate,
    placement,
    ready: null,
    simErrors: stats.errors,
    rampSeconds,
  };
}

/** Tasks per second of one job drained by the simulated fleet, from submit to its end. */
async function placementRate(client: FabricClient, tasks: number): Promise<number> {
  const started = performance.now();
  const { jobId } = await client.submitJob({ name: "placement", tasks: [{ name: "t", run: "true", count: tasks }] });
  assertSucceeded(await waitForJob(client, jobId));
  return tasks / secondsSince(started);
}

/** The same measurement against the bare server at `n` agents. */
async function measureBare(
  context: BenchContext,
  cert: CertFiles,
  n: number,
  plan: Plan,
): Promise<Step> {
  const tokens = { join: `join-${crypto.randomUUID()}`, admin: `admin-${crypto.randomUUID()}` };
  const args = ["run", "-A", "--quiet", BARE, "--cert", cert.cert, "--key", cert.key];
  const proc = new Proc("bare tracker", Deno.execPath(), [...args, "--join", tokens.join, "--admin", tokens.admin]);
  try {
    const port = (await proc.waitForLine(/listening on https:\/\/127\.0\.0\.1:(\d+)/))[1];
    const url = `https://127.0.0.1:${port}`;
    const client = new FabricClient({ url, token: tokens.admin, caPem: await Deno.readTextFile(cert.ca) });
    const server: Server = { pid: proc.pid, url, caFile: cert.ca, joinToken: tokens.join, client };
    const idle = memory(proc.pid).rss;
    const fleet = await SimFleet.start({ ...server, prefix: "bare", slots: 2 });
    try {
      return await measureStep(server, fleet, n, idle, plan, context);
    } finally {
      client.close();
      await fleet.stop();
    }
  } finally {
    await proc.stop();
  }
}
