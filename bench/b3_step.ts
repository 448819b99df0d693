/**
 * One step of B3: a fleet of N simulated agents against one server (fabric's tracker or a bare
 * one), its CPU over steady windows, whether it kept up, its memory, and its placement rate.
 */
import { FabricClient } from "../src/client/mod.ts";
import { cpuSeconds, memory, openFiles } from "./proc_stats.ts";
import { Proc } from "./procs.ts";
import { format } from "./report.ts";
import { SimFleet } from "./sim_fleet.ts";
import { median } from "./stats.ts";
import { assertSucceeded, type BenchContext, secondsSince, sleep, waitForJob } from "./workload.ts";

export const HEARTBEAT_S = 5;
/** Below this share of the heartbeats it should send, the fleet was not carried (or not simulated) at N. */
export const HEALTHY_RATE = 0.9;
/** A median heartbeat answered slower than this means the tracker is falling behind, whatever its CPU. */
export const HEALTHY_P50_MS = 100;
const BARE = new URL("./bare_tracker.ts", import.meta.url).pathname;

export interface Server {
  pid: number;
  url: string;
  caFile: string;
  joinToken: string;
  client: FabricClient;
}

export interface Step {
  agents: number;
  cpu: number[];
  rss: number;
  rssPerAgent: number;
  fds: number;
  /** Cores the simulator used over the windows: near 1 or more, it may be what limits the load. */
  simCpu: number;
  /** Heartbeats per second the fleet achieved over the windows, against the N / 5 s it should. */
  heartbeatRate: number;
  /** Heartbeat round trips over the windows (ms). */
  heartbeatP50: number;
  heartbeatP99: number;
  /** The tracker kept up: the fleet's heartbeats went through at their rate, answered promptly. */
  healthy: boolean;
  /** The machine's 1-minute load average at the end of the windows (2 cores: above 2 is contention). */
  load: number;
  placement: number[];
  /** Agents the tracker sees ready after the windows (fabric only). */
  ready: number | null;
  simErrors: number;
  rampSeconds: number;
}

export interface CertFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface Plan {
  windowMs: number;
  settleMs: number;
  rate: number;
  placementTasks: number;
  runs: number;
}

export function describeStep(s: Step): string {
  const cpu = `${format(median(s.cpu))} cores [${format(Math.min(...s.cpu))}–${format(Math.max(...s.cpu))}]`;
  const placement = s.placement.length ? `${format(median(s.placement))} tasks/s` : "not measured";
  return [
    `N=${s.agents}${s.healthy ? "" : " (NOT KEEPING UP)"}: ${cpu}`,
    `heartbeats ${format(s.heartbeatRate)}/s of ${format(s.agents / HEARTBEAT_S)}, ` +
    `p50 ${format(s.heartbeatP50)} ms, p99 ${format(s.heartbeatP99)} ms`,
    `RSS ${format(s.rss / 1e6)} MB (${format(s.rssPerAgent / 1024)} KB/agent), ${s.fds} fds`,
    `placement ${placement}`,
    ...(s.ready === null ? [] : [`${s.ready} ready`]),
    `ramp ${format(s.rampSeconds)} s, sim ${format(s.simCpu)} cores, ${s.simErrors} sim errors, load ${format(s.load)}`,
  ].join(", ");
}

/** Grow the fleet to `n`, let it settle, read CPU over `runs` windows, then drain `runs` jobs. */
export async function measureStep(
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
  const after = await fleet.stats();
  const heartbeatRate = (after.heartbeats - before.stats.heartbeats) / elapsed;
  const step: Step = {
    agents: grown.agents,
    cpu,
    rss: memory(server.pid).rss,
    rssPerAgent: (memory(server.pid).rss - idleRss) / grown.agents,
    fds: openFiles(server.pid),
    simCpu,
    heartbeatRate,
    heartbeatP50: after.heartbeatP50 ?? NaN,
    heartbeatP99: after.heartbeatP99 ?? NaN,
    healthy: false,
    placement: [],
    ready: null,
    simErrors: after.errors,
    rampSeconds,
    load: Deno.loadavg()[0],
  };
  step.healthy = heartbeatRate >= HEALTHY_RATE * (grown.agents / HEARTBEAT_S) && step.heartbeatP50 <= HEALTHY_P50_MS;
  // A tracker that already keeps agents waiting would take minutes to drain a job: not worth measuring
  // (in a quick run the fleet is tiny and the short window noisy, so placement is always measured).
  if (step.healthy || context.quick) {
    for (let i = 0; i < plan.runs; i++) step.placement.push(await placementRate(server.client, plan.placementTasks));
  }
  return step;
}

/** Tasks per second of one job drained by the simulated fleet, from submit to its end. */
async function placementRate(client: FabricClient, tasks: number): Promise<number> {
  const started = performance.now();
  const { jobId } = await client.submitJob({ name: "placement", tasks: [{ name: "t", run: "true", count: tasks }] });
  assertSucceeded(await waitForJob(client, jobId));
  return tasks / secondsSince(started);
}

/** The same measurement against the bare server at `n` agents, behind Deno.serve or fabric's HTTPS layer. */
export async function measureBare(
  context: BenchContext,
  cert: CertFiles,
  n: number,
  plan: Plan,
  http: "deno" | "fabric",
): Promise<Step> {
  const tokens = { join: `join-${crypto.randomUUID()}`, admin: `admin-${crypto.randomUUID()}` };
  const args = ["run", "-A", "--quiet", BARE, "--cert", cert.cert, "--key", cert.key, "--http", http];
  const proc = new Proc("bare tracker", Deno.execPath(), [...args, "--join", tokens.join, "--admin", tokens.admin]);
  try {
    const port = (await proc.waitForLine(/listening on https:\/\/127\.0\.0\.1:(\d+)/))[1];
    const url = `https://127.0.0.1:${port}`;
    const client = new FabricClient({ url, token: tokens.admin, caPem: await Deno.readTextFile(cert.ca) });
    const server: Server = { pid: proc.pid, url, caFile: cert.ca, joinToken: tokens.join, client };
    const idle = memory(proc.pid).rss;
    // As B3 on one tracker (b3_agents.ts): the shared client.
    const fleet = await SimFleet.start({ ...server, prefix: "bare", slots: 2, connections: "shared" });
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
