/**
 * One chaos run: plan the workload and the faults from a seed, start a fleet, run both at once,
 * wait (bounded) for every job to end once the faults are over, then check every invariant on
 * what fabric recorded and what the tasks themselves wrote down.
 */
import { join } from "node:path";
import { checkAll, formatSummary } from "./checker.ts";
import { describeFault } from "./checks_faults.ts";
import { driveWorkload, observeJobs, waitForJobs } from "./driver.ts";
import { injectFaults, planFaults } from "./faults.ts";
import type { CheckInput, CheckResult } from "./model.ts";
import { Fleet } from "./processes.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { seededRandom } from "./random.ts";
import { agentsWithLongRuns, buildRuns, parseRunLines } from "./runs.ts";
import { planWorkload, taskCount } from "./workload.ts";

export interface ChaosOptions {
  durationMs: number;
  /** Trackers (default 1); more than one share a PostgreSQL database the run starts. */
  trackers?: number;
  seed: number;
  agents: number;
  slots: number;
  /** Give some jobs a `lostAfter` (a task key the tracker must accept). */
  lostAfter: boolean;
  /** Keep the run's directory (run file, process logs, observations) even when every check passes. */
  keep: boolean;
  maxBigBytes: number;
  /** How long to wait for the jobs to end once the faults are over. */
  settleTimeoutMs: number;
  log: (line: string) => void;
}

export interface ChaosReport {
  pass: boolean;
  summary: string;
  results: CheckResult[];
  /** The kept directory, if any. */
  root: string | null;
  elapsedMs: number;
}

export const HEARTBEAT_MS = 300;
export const TTL_MS = 1500;
export const GRACE_MS = 1000;
/**
 * With several trackers: the lease, and a longer TTL: after the leader's loss no tracker answers
 * agents for up to a lease, and an agent may first try a tracker that cannot serve it before the one
 * that leads; a TTL shorter than that would have the new leader give up on agents that are fine.
 */
export const LEASE_MS = 2000;
export const SEVERAL_TTL_MS = 4000;
/** Faults stop here, so the last jobs end on a healthy fleet. */
const FAULT_WINDOW = 0.85;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const root = await Deno.makeTempDir({ prefix: "fabric-chaos-" });
  const runsDir = join(root, "runs");
  const runsFile = join(runsDir, "runs.log");
  await Deno.mkdir(runsDir, { recursive: true });
  await Deno.writeTextFile(runsFile, "");
  // Tasks append to it as their user, not the harness's (an agent running as root runs them as another).
  await Deno.chmod(runsFile, 0o666);
  const log = options.log;
  const agents = Array.from({ length: options.agents }, (_, i) => `agent-${i + 1}`);
  const trackers = options.trackers ?? 1;
  const ttlMs = trackers > 1 ? SEVERAL_TTL_MS : TTL_MS;
  const random = seededRandom(options.seed);
  const plans = planWorkload(random, options);
  const faultPlan = planFaults(random, {
    agents,
    ttlMs,
    heartbeatMs: HEARTBEAT_MS,
    count: Math.ceil(options.durationMs / 2500),
    several: trackers > 1 ? { leaseMs: LEASE_MS } : undefined,
  });
  log(
    `seed ${options.seed}: ${plans.length} jobs, ${
      taskCount(plans)
    } tasks, up to ${faultPlan.length} faults; in ${root}`,
  );

  let fleet: Fleet | null = null;
  let postgres: PostgresServer | null = null;
  let report: ChaosReport | null = null;
  let broken: unknown = null;
  try {
    let several;
    if (trackers > 1) {
      const server = postgres = await PostgresServer.start();
      several = {
        trackers,
        store: await server.createDatabase(),
        lease: `${LEASE_MS}ms`,
        pauseStore: () => server.pause(),
        resumeStore: () => server.resume(),
      };
    }
    fleet = await Fleet.start({
      root,
      agents,
      slots: options.slots,
      heartbeat: `${HEARTBEAT_MS}ms`,
      agentTtl: `${ttlMs}ms`,
      grace: `${GRACE_MS}ms`,
      several,
      log,
    });
    const startedAt = Date.now();
    const abort = new AbortController();
    // A fault the fleet does not come back from ends the workload too: nothing more can be learnt.
    const faulting = injectFaults(faultPlan, fleet, {
      until: startedAt + options.durationMs * FAULT_WINDOW,
      longRunning: async () =>
        agentsWithLongRuns(buildRuns(parseRunLines(await Deno.readTextFile(runsFile)).lines), Date.now()),
      recoveryTimeoutMs: 20_000,
      log,
      signal: abort.signal,
    }).then((records) => {
      if (records.some((r) => !r.recovered)) abort.abort();
      return records;
    });
    // Faults go on after the last submission, up to their own deadline; they stop early only if the
    // workload broke off.
    const submitted = await driveWorkload(plans, fleet, { startedAt, runsDir, runsFile, log, signal: abort.signal })
      .catch((error) => {
        abort.abort();
        throw error;
      });
    const faults = await faulting;
    for (const agent of agents) fleet.heal(agent);
    if (!(await fleet.waitHealthy(20_000))) {
      const last = faults.at(-1);
      throw new Error(`the fleet is not healthy after the faults (last: ${last ? describeFault(last) : "none"})`);
    }

    const client = fleet.client();
    let input: CheckInput;
    try {
      const going = await waitForJobs(client, submitted, options.settleTimeoutMs);
      if (going.length > 0) log(`still going after ${options.settleTimeoutMs}ms: ${going.join(", ")}`);
      const jobs = await observeJobs(client, submitted);
      const parsed = parseRunLines(await Deno.readTextFile(runsFile));
      input = { jobs, runs: buildRuns(parsed.lines), faults, ttlMs, graceMs: GRACE_MS };
      const results = checkAll(input);
      const pass = results.every((r) => r.pass);
      const summary = formatSummary(input, results, {
        trackers,
        seed: options.seed,
        agents: options.agents,
        slots: options.slots,
        minutes: Math.round(options.durationMs / 600) / 100,
        lostAfter: options.lostAfter,
        malformedRunLines: parsed.malformed.length,
      });
      report = { pass, summary, results, root: null, elapsedMs: 0 };
      if (!pass || options.keep) {
        await Deno.writeTextFile(join(root, "summary.txt"), summary + "\n");
        await Deno.writeTextFile(join(root, "observations.json"), JSON.stringify({ plans, faultPlan, input }, null, 1));
      }
    } finally {
      client.close();
    }
  } catch (error) {
    broken = error;
  } finally {
    await fleet?.stop();
    await postgres?.stop();
  }
  if (broken || !report!.pass || options.keep) {
    await fleet?.saveLogs(join(root, "logs"));
  } else {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  if (broken) {
    throw new Error(`The chaos run broke off: ${(broken as Error).message}; its directory is kept: ${root}`, {
      cause: broken,
    });
  }
  return { ...report!, root: report!.pass && !options.keep ? null : root, elapsedMs: Date.now() - began };
}
