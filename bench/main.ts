/**
 * `deno task bench`: fabric against baselines on this machine, in one run. Every process it starts
 * is stopped at the end, on a failure, and on Ctrl-C.
 */
import { throughput } from "./b1_throughput.ts";
import { PostgresServer } from "../testing/postgres.ts";
import { killProcessesUnder } from "../testing/process.ts";
import { latency } from "./b2_latency.ts";
import { agents } from "./b3_agents.ts";
import { queue } from "./b4_queue.ts";
import { logs } from "./b5_logs.ts";
import { artifacts } from "./b6_artifacts.ts";
import { type BenchOptions, parseOptions, USAGE } from "./options.ts";
import { run, stopAll } from "./procs.ts";
import {
  type BenchReport,
  type GitState,
  printStoreComparison,
  printWorkload,
  type WorkloadResult,
  writeJson,
} from "./report.ts";
import type { BenchContext, StoreKind, Workload, WorkloadOutcome } from "./workload.ts";

const WORKLOADS: Workload[] = [
  { id: "B1", title: "throughput: tasks running `true` on one agent with 2 slots", run: throughput },
  { id: "B2", title: "latency: a one-task job on an idle agent, submit to completion", run: latency },
  {
    id: "B3",
    title: "agents: simulated agents a tracker carries under half a core (with --trackers 2: two, each)",
    run: agents,
  },
  { id: "B4", title: "queue: one job of 100,000 tasks (1,000,000 with --huge)", run: queue },
  { id: "B5", title: "logs: one task writing 200 MB to stdout", run: logs },
  { id: "B6", title: "artifacts: a 1 GB artifact uploaded and downloaded, against cp", run: artifacts },
];

async function main(args: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(args, WORKLOADS.map((w) => w.id));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE.trim());
    return 0;
  }
  const root = await Deno.makeTempDir({ prefix: "fabric-bench-" });
  // An agent running as root runs tasks as another user, which must reach an unsandboxed task's directory.
  await Deno.chmod(root, 0o711);
  console.error(`scratch directory ${root}`);
  let postgres: PostgresServer | null = null;
  const cleanup = async () => {
    await stopAll();
    await postgres?.stop();
    // Tasks lead their own sessions: an agent stopped in a hurry may leave one behind in the scratch directory.
    await killProcessesUnder(root);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    console.error("\ninterrupted: stopping every process the bench started");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
  const contextFor = (store: StoreKind): BenchContext => ({
    runs: options.runs,
    quick: options.quick,
    huge: options.huge,
    root,
    log,
    store,
    trackers: store === "postgres" ? options.trackers : 1,
    newStore: async () => store === "postgres" ? await postgres!.createDatabase() : undefined,
  });
  const startedAt = new Date().toISOString();
  // Trackers and agents run from the working tree as it is when each starts: if it changes during
  // the run, workloads may have measured different code, and the report says so.
  const gitAtStart = await gitState();
  const results: WorkloadResult[] = [];
  try {
    if (options.stores.includes("postgres")) {
      // A server as one would run it: its defaults (fsync on), in the scratch directory, which the
      // postgres user (the server's, when we are root) must be able to pass through.
      await Deno.chmod(root, 0o711);
      postgres = await PostgresServer.start({
        parent: root,
        settings: { fsync: "on", full_page_writes: "on", shared_buffers: "128MB" },
      });
      log(`PostgreSQL on 127.0.0.1:${postgres.port}`);
    }
    for (const workload of WORKLOADS) {
      if (options.only && !options.only.includes(workload.id)) continue;
      for (const store of options.stores) {
        const context = contextFor(store);
        const id = options.stores.length > 1 || store !== "sqlite" ? `${workload.id} ${store}` : workload.id;
        context.log(`${id} ${workload.title}`);
        const started = performance.now();
        const loadStart = Deno.loadavg()[0];
        let outcome: WorkloadOutcome;
        let failure: string | undefined;
        try {
          outcome = await workload.run(context);
        } catch (error) {
          context.log(`${id} failed: ${(error as Error)?.stack ?? error}`);
          outcome = { figures: [], notes: [] };
          failure = (error as Error)?.message ?? String(error);
        }
        const result: WorkloadResult = {
          id,
          title: workload.title,
          store,
          ...outcome,
          seconds: (performance.now() - started) / 1000,
          load: { start: loadStart, end: Deno.loadavg()[0] },
          ...(failure === undefined ? {} : { error: failure }),
        };
        // Whatever a failed workload left running must not weigh on the next one.
        await stopAll();
        results.push(result);
        printWorkload(result);
      }
    }
    if (options.stores.length > 1) printStoreComparison(results);
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }

  const report: BenchReport = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: await machine(),
    git: { start: gitAtStart, end: await gitState() },
    options: {
      runs: options.runs,
      quick: options.quick,
      huge: options.huge,
      only: options.only,
      stores: options.stores,
      trackers: options.trackers,
    },
    workloads: results,
  };
  await writeJson(options.json, report);
  const git = report.git;
  if (JSON.stringify(git.start) !== JSON.stringify(git.end)) {
    console.log(
      `\nNOTE: the checkout changed during the run (${JSON.stringify(git.start)} → ${JSON.stringify(git.end)})`,
    );
  } else if (git.end?.srcChanged) {
    console.log(`\nNOTE: src/ had uncommitted changes on top of ${git.end.commit}`);
  }
  console.log(`\nratio = fabric ÷ baseline; ↑ higher is better, ↓ lower is better. JSON: ${options.json}`);
  return results.some((r) => r.error) ? 1 : 0;
}

async function machine(): Promise<Record<string, unknown>> {
  const read = (path: string) => Deno.readTextFile(path).then((t) => t.trim()).catch(() => null);
  return {
    cpus: navigator.hardwareConcurrency,
    os: Deno.build.os,
    arch: Deno.build.arch,
    kernel: await read("/proc/sys/kernel/osrelease"),
    deno: Deno.version.deno,
    loadavg: await read("/proc/loadavg"),
    memTotal: Deno.systemMemoryInfo().total,
  };
}

/** Which fabric was measured: the commit, and whether src/ had changes on top (read only, no index lock). */
async function gitState(): Promise<GitState | null> {
  const head = await run("git", ["rev-parse", "HEAD"]).catch(() => null);
  const status = await run("git", ["--no-optional-locks", "status", "--porcelain", "--", "src"]).catch(() => null);
  if (!head || head.code !== 0 || !status) return null;
  return { commit: head.stdout.trim(), srcChanged: status.stdout.trim() !== "" };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
