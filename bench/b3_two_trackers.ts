/**
 * B3 on two trackers (`--store postgres --trackers 2`, issue #17): the simulated fleet split half and
 * half over the leader and a follower on one PostgreSQL, each half in a simulator process of its own.
 * Each simulated agent keeps its own connections as a real agent does (sim_agents.ts: two, its claim
 * long poll's and its heartbeats'), so a tracker makes a TLS handshake only when an agent joins. The
 * follower answers its agents'
 * heartbeats itself and sends them on to the leader in batches (src/tracker/heartbeat_relay.ts), holds
 * their claim long polls and carries them to the leader in one pool (src/tracker/claim_relay.ts); its
 * agents' registrations are forwarded. Each tracker's CPU is read from /proc over
 * steady windows as single-tracker B3 reads it; a step counts only if both halves' heartbeats went
 * through at their rate, answered promptly. Target: each tracker under half a core at 10,000 agents.
 */
import { HEALTHY_P50_MS, HEALTHY_RATE, HEARTBEAT_S } from "./b3_step.ts";
import { BenchCluster } from "./cluster.ts";
import { cpuSeconds, memory } from "./proc_stats.ts";
import { figure, format } from "./report.ts";
import { type FleetStats, SimFleet } from "./sim_fleet.ts";
import { median } from "./stats.ts";
import { type BenchContext, secondsSince, sleep, type WorkloadOutcome } from "./workload.ts";

const HALF_CORE = 0.5;

interface TwoStep {
  agents: number;
  leaderCpu: number[];
  followerCpu: number[];
  /** Heartbeats a second each half achieved, against the N/2 / 5 s it should. */
  rates: [number, number];
  p50: [number, number];
  p99: [number, number];
  rss: [number, number];
  ready: number;
  healthy: boolean;
  simCpu: [number, number];
  simErrors: number;
  load: number;
  rampSeconds: number;
}

function describe(s: TwoStep): string {
  const cpu = (c: number[]) => `${format(median(c))} [${format(Math.min(...c))}–${format(Math.max(...c))}]`;
  return [
    `N=${s.agents}${s.healthy ? "" : " (NOT KEEPING UP)"}: leader ${cpu(s.leaderCpu)} cores, follower ${
      cpu(s.followerCpu)
    } cores`,
    `heartbeats ${format(s.rates[0])}+${format(s.rates[1])}/s of ${format(s.agents / HEARTBEAT_S)}`,
    `p50 ${format(s.p50[0])}/${format(s.p50[1])} ms, p99 ${format(s.p99[0])}/${format(s.p99[1])} ms (leader/follower)`,
    `RSS ${format(s.rss[0] / 1e6)}/${format(s.rss[1] / 1e6)} MB`,
    `${s.ready} ready at the leader`,
    `ramp ${format(s.rampSeconds)} s, sims ${format(s.simCpu[0])}/${
      format(s.simCpu[1])
    } cores, ${s.simErrors} sim errors, load ${format(s.load)}`,
  ].join(", ");
}

export async function twoTrackerAgents(context: BenchContext): Promise<WorkloadOutcome> {
  const ladder = context.quick ? [30, 60] : [2000, 5000, 10_000];
  const windowMs = context.quick ? 1500 : 10_000;
  const settleMs = context.quick ? 1000 : 10_000;
  const rate = context.quick ? 100 : 250;
  const steps: TwoStep[] = [];
  const notes: string[] = [];
  const cluster = await BenchCluster.start(context.root, { heartbeat: "5s", store: await context.newStore() });
  const fleets: SimFleet[] = [];
  try {
    const follower = await cluster.startFollower();
    const common = { caFile: cluster.caFile, joinToken: cluster.joinToken, slots: 2 };
    fleets.push(await SimFleet.start({ ...common, url: cluster.url, prefix: "lead" }));
    fleets.push(await SimFleet.start({ ...common, url: follower.url, prefix: "follow" }));
    const pids = [cluster.tracker.pid, follower.proc.pid];
    for (const n of ladder) {
      const rampAt = performance.now();
      // More registrations at once than one tracker's B3 makes: a follower's are forwarded, and at the
      // ramp's rate each may take up to 64/250 s (16 at once held the ramp to 16 a second once they took 1 s).
      let grown;
      try {
        grown = await Promise.all(fleets.map((fleet) => fleet.grow(n / 2, rate, 64)));
      } catch (error) {
        context.log(`B3 two trackers: the fleet could not grow to ${n}: ${(error as Error).message}`);
        notes.push(`N=${n} not measured: the fleet could not grow to it (${(error as Error).message})`);
        break;
      }
      const rampSeconds = secondsSince(rampAt);
      const failed = grown.reduce((sum, g) => sum + g.failed, 0);
      if (failed > 0) context.log(`B3 two trackers: ${failed} of ${n} agents could not register`);
      await sleep(settleMs);
      const before = await Promise.all(fleets.map((fleet) => fleet.stats()));
      const sims = fleets.map((fleet) => cpuSeconds(fleet.proc.pid));
      const at = performance.now();
      const cpu: [number[], number[]] = [[], []];
      for (let i = 0; i < context.runs; i++) {
        const start = pids.map(cpuSeconds);
        const windowAt = performance.now();
        await sleep(windowMs);
        const seconds = secondsSince(windowAt);
        pids.forEach((pid, j) => cpu[j].push((cpuSeconds(pid) - start[j]) / seconds));
      }
      const elapsed = secondsSince(at);
      const after: FleetStats[] = await Promise.all(fleets.map((fleet) => fleet.stats()));
      const pair = <T>(f: (j: number) => T): [T, T] => [f(0), f(1)];
      const agents = grown[0].agents + grown[1].agents;
      const step: TwoStep = {
        agents,
        leaderCpu: cpu[0],
        followerCpu: cpu[1],
        rates: pair((j) => (after[j].heartbeats - before[j].heartbeats) / elapsed),
        p50: pair((j) => after[j].heartbeatP50 ?? NaN),
        p99: pair((j) => after[j].heartbeatP99 ?? NaN),
        rss: pair((j) => memory(pids[j]).rss),
        ready: (await cluster.client().listAgents()).filter((a) => a.state === "ready").length,
        healthy: false,
        simCpu: pair((j) => (cpuSeconds(fleets[j].proc.pid) - sims[j]) / elapsed),
        simErrors: after[0].errors + after[1].errors,
        load: Deno.loadavg()[0],
        rampSeconds,
      };
      step.healthy = [0, 1].every((j) =>
        step.rates[j] >= HEALTHY_RATE * (grown[j].agents / HEARTBEAT_S) && step.p50[j] <= HEALTHY_P50_MS
      ) && step.ready >= HEALTHY_RATE * agents;
      steps.push(step);
      context.log(`B3 two trackers ${describe(step)}`);
      const busiest = Math.max(median(step.leaderCpu), median(step.followerCpu));
      // The target is each tracker's CPU at 10,000 agents: a step that did not keep up is reported as such,
      // and the ladder goes on to 10,000 anyway, so that one run gives the figure the issue asks for.
      if (busiest >= HALF_CORE) {
        break;
      }
    }
  } finally {
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    await cluster.stop();
  }

  const under = steps.filter((s) => Math.max(median(s.leaderCpu), median(s.followerCpu)) < HALF_CORE && s.healthy);
  const best = under.at(-1) ?? steps[0];
  const at = `at ${best.agents} agents over two trackers`;
  return {
    figures: [
      figure(
        {
          id: "b3.two_trackers_max_agents",
          name: "agents over two trackers, each under half a core",
          unit: "agents",
          better: "higher",
          target: { on: "value", op: ">=", value: context.quick ? 0 : 10_000 },
          note: `largest step of the ladder ${ladder.join(", ")} (half on each tracker) with both trackers under ` +
            `${HALF_CORE} core and heartbeats answered in p50 ≤ ${HEALTHY_P50_MS} ms at ≥ ${
              HEALTHY_RATE * 100
            }% of their rate`,
        },
        [under.at(-1)?.agents ?? 0],
      ),
      figure(
        {
          id: "b3.two_trackers_leader_cpu",
          name: `leader CPU ${at}`,
          unit: "cores",
          better: "lower",
          target: { on: "value", op: "<=", value: HALF_CORE },
        },
        best.leaderCpu,
      ),
      figure(
        {
          id: "b3.two_trackers_follower_cpu",
          name: `follower CPU ${at}`,
          unit: "cores",
          better: "lower",
          target: { on: "value", op: "<=", value: HALF_CORE },
        },
        best.followerCpu,
      ),
      figure(
        { id: "b3.two_trackers_heartbeat_p99", name: `follower's heartbeat p99 ${at}`, unit: "ms", better: "lower" },
        [best.p99[1]],
        { name: "leader's heartbeat p99, same run", samples: [best.p99[0]] },
      ),
    ],
    notes: [
      `two trackers on one PostgreSQL, the fleet split half and half, a simulator process per half, each ` +
      `simulated agent with its own kept-alive connections as a real agent: 2 slots, ` +
      `heartbeat 5 s, claim long poll 25 s, ramp ${rate}/s per half; CPU over ${windowMs / 1000} s windows after ` +
      `${settleMs / 1000} s of settling; no placement measured`,
      ...steps.map((s) => `two trackers ${describe(s)}`),
      ...notes,
    ],
  };
}
