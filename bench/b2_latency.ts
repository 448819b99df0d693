/**
 * B2 latency: a one-task job on an idle agent, from submit to the completion the client sees:
 * (a) through the bench's own warm client (submitJob, then the watch long poll until the job ends),
 * (b) as `fabric submit --wait`, a fresh process, (c) through the warm client after a pause, when the
 * agent has a process started ahead and the machine's CPUs have slept. The baseline is spawning `true` directly: the
 * least any "run this and tell me" can cost here. `fabric --version` as a fresh process shows how
 * much of (b) is the CLI starting before it sends anything, and a `deno run` of an empty script
 * how much of that is Deno's own start.
 */
import { join } from "node:path";
import { BenchCluster } from "./cluster.ts";
import { fabric, run } from "./procs.ts";
import { figure } from "./report.ts";
import { percentile } from "./stats.ts";
import { assertSucceeded, type BenchContext, waitForJob, type WorkloadOutcome } from "./workload.ts";

const WARMUP_JOBS = 200;
/** The quiet before each job of the "after idle" row: long enough for the CPUs to sleep and the standby to be waiting. */
const IDLE_MS = 60;

interface Percentiles {
  p50: number[];
  p95: number[];
}

export async function latency(context: BenchContext): Promise<WorkloadOutcome> {
  const samples = context.quick ? 5 : 50;
  const cliSamples = context.quick ? 3 : 50;
  const warm: Percentiles = { p50: [], p95: [] };
  const warmSandboxed: Percentiles = { p50: [], p95: [] };
  const warmIdle: Percentiles = { p50: [], p95: [] };
  const spawnIdle: Percentiles = { p50: [], p95: [] };
  const cli: Percentiles = { p50: [], p95: [] };
  const spawn: Percentiles = { p50: [], p95: [] };
  const startup: Percentiles = { p50: [], p95: [] };
  const denoStart: Percentiles = { p50: [], p95: [] };
  const phases: Phases[] = [];

  const cluster = await BenchCluster.start(context.root, { store: await context.newStore() });
  try {
    await cluster.startAgent({ name: "b2", slots: 2, allowUnsandboxed: true });
    const jobFile = join(cluster.root, "one.yaml");
    const emptyScript = join(cluster.root, "empty.ts");
    await Deno.writeTextFile(emptyScript, "");
    await Deno.writeTextFile(jobFile, 'name: one\nsandbox: false\ntasks:\n  - name: t\n    run: "true"\n');
    // The tracker and the agent are long-running daemons: measured in their steady state, after V8 has
    // optimized their hot paths (it does after a few hundred calls; the first 100 jobs of a fresh pair
    // take about a millisecond more each), not in their first second.
    await repeat(context.quick ? 1 : WARMUP_JOBS, () => warmJob(cluster, false));
    for (let i = 0; i < context.runs; i++) {
      add(warm, await repeat(samples, () => warmJob(cluster, false, phases)));
      add(warmSandboxed, await repeat(samples, () => warmJob(cluster, true)));
      add(warmIdle, await repeat(samples, () => afterIdle(() => warmJob(cluster, false))));
      add(spawnIdle, await repeat(samples, () => afterIdle(spawnTrue)));
      add(cli, await repeat(cliSamples, () => cliJob(cluster, jobFile)));
      add(spawn, await repeat(samples, spawnTrue));
      add(startup, await repeat(cliSamples, cliStartup));
      add(denoStart, await repeat(cliSamples, () => emptyDeno(emptyScript)));
      context.log(
        `B2 run ${i + 1}: warm p50 ${warm.p50[i].toFixed(1)} ms, sandboxed ${warmSandboxed.p50[i].toFixed(1)} ms, ` +
          `submit --wait p50 ${cli.p50[i].toFixed(0)} ms, spawn true p50 ${spawn.p50[i].toFixed(2)} ms`,
      );
    }
  } finally {
    await cluster.stop();
  }

  const ms = "ms";
  const spawnBase = (p: "p50" | "p95") => ({ name: `spawn \`true\` directly from Deno (${p})`, samples: spawn[p] });
  return {
    figures: [
      figure(
        {
          id: "b2.warm_p50",
          name: "warm client p50",
          unit: ms,
          better: "lower",
          // On PostgreSQL two of a job's hops are commits over the network (issue #17's target).
          target: { on: "value", op: "<=", value: context.store === "postgres" ? 8 : 5 },
        },
        warm.p50,
        spawnBase("p50"),
      ),
      figure({ id: "b2.warm_p95", name: "warm client p95", unit: ms, better: "lower" }, warm.p95, spawnBase("p95")),
      figure(
        { id: "b2.warm_sandboxed_p50", name: "warm client, sandboxed p50", unit: ms, better: "lower" },
        warmSandboxed.p50,
        spawnBase("p50"),
      ),
      figure(
        {
          id: "b2.warm_idle_p50",
          name: `warm client after ${IDLE_MS} ms idle p50`,
          unit: ms,
          better: "lower",
          note: "a pause before each job (and each baseline spawn): the agent's process started ahead is waiting, " +
            "and every hop is slower once the machine's CPUs have slept",
        },
        warmIdle.p50,
        { name: `spawn \`true\` directly from Deno after ${IDLE_MS} ms idle (p50)`, samples: spawnIdle.p50 },
      ),
      figure(
        {
          id: "b2.cli_p50",
          name: "fabric submit --wait p50",
          unit: ms,
          better: "lower",
          target: { on: "value", op: "<=", value: 150 },
        },
        cli.p50,
        spawnBase("p50"),
      ),
      figure(
        { id: "b2.cli_p95", name: "fabric submit --wait p95", unit: ms, better: "lower" },
        cli.p95,
        spawnBase("p95"),
      ),
      figure(
        {
          id: "b2.cli_startup_p50",
          name: "fabric --version p50",
          unit: ms,
          better: "lower",
          note: "a fresh CLI process that sends nothing: the floor under submit --wait; the ratio is what " +
            "loading fabric's modules adds to Deno's own start",
        },
        startup.p50,
        { name: "deno run of an empty script (Deno's own start)", samples: denoStart.p50 },
      ),
    ],
    notes: [
      `where the warm unsandboxed time goes (medians over all jobs, wall clock in whole ms): ${describePhases(phases)}`,
      `${samples} jobs per run through the warm client, ${cliSamples} through the CLI, after ` +
      `${context.quick ? 1 : WARMUP_JOBS} unmeasured jobs (the daemons' steady state); one unsandboxed \`true\` task ` +
      "per job (the sandboxed row runs it under bwrap); percentiles are per run, the spread is over runs",
    ],
  };
}

function describePhases(phases: Phases[]): string {
  const at = (key: keyof Phases) => percentile(phases.map((p) => p[key]), 50);
  return `submit round trip ${at("submit")} ms, submit sent → task started ${at("toStart")} ms, ` +
    `task ran ${at("run")} ms, task ended → client saw the job end ${at("toSeen")} ms`;
}

function add(into: Percentiles, durations: number[]): void {
  into.p50.push(percentile(durations, 50));
  into.p95.push(percentile(durations, 95));
}

async function repeat(count: number, measure: () => Promise<number>): Promise<number[]> {
  const durations: number[] = [];
  for (let i = 0; i < count; i++) durations.push(await measure());
  return durations;
}

/** Where one warm job's time went, in wall-clock milliseconds (the tracker's times are whole ms). */
interface Phases {
  /** The submit's own round trip. */
  submit: number;
  /**
   * From the submit's start to the task's start on the agent (placement, claim, spawn): the answer to
   * the submit may come after the task started, since the placement is stored before it.
   */
  toStart: number;
  /** The task itself, as the agent timed it. */
  run: number;
  /** From the task's end to the client seeing the job end (report, commit, watch). */
  toSeen: number;
}

/** Milliseconds from submit to the end of a one-task job, seen through the bench's warm client. */
async function warmJob(cluster: BenchCluster, sandboxed: boolean, phases?: Phases[]): Promise<number> {
  const client = cluster.client();
  const started = performance.now();
  const wallStart = Date.now();
  const { jobId, version } = await client.submitJob({
    name: "one",
    sandbox: sandboxed,
    tasks: [{ name: "t", run: "true" }],
  });
  const submitted = Date.now();
  assertSucceeded(await waitForJob(client, jobId, 60_000, version));
  const total = performance.now() - started;
  const seen = Date.now();
  if (phases) {
    // Read after the clock stopped: the breakdown costs the measurement nothing.
    const task = await client.getTask(`${jobId}.0`);
    const taskStart = Date.parse(task.startedAt ?? "");
    const taskEnd = Date.parse(task.finishedAt ?? "");
    phases.push({
      submit: submitted - wallStart,
      toStart: taskStart - wallStart,
      run: taskEnd - taskStart,
      toSeen: seen - taskEnd,
    });
  }
  return total;
}

async function afterIdle(measure: () => Promise<number>): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  return await measure();
}

async function cliJob(cluster: BenchCluster, jobFile: string): Promise<number> {
  const result = await cluster.cli(["submit", jobFile, "--wait"], 60_000);
  if (result.code !== 0) throw new Error(`fabric submit --wait exited ${result.code}: ${result.stderr.slice(0, 500)}`);
  return result.ms;
}

async function spawnTrue(): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command("true", { stdout: "null", stderr: "null" }).output();
  if (!output.success) throw new Error("`true` failed");
  return performance.now() - started;
}

async function emptyDeno(script: string): Promise<number> {
  const result = await run(Deno.execPath(), ["run", "-A", "--quiet", script]);
  if (result.code !== 0) throw new Error(`deno run of an empty script exited ${result.code}: ${result.stderr}`);
  return result.ms;
}

async function cliStartup(): Promise<number> {
  const result = await fabric(["--version"]);
  if (result.code !== 0) throw new Error(`fabric --version exited ${result.code}: ${result.stderr}`);
  return result.ms;
}
