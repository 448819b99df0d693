/**
 * B4 queue: one job of 100,000 tasks (1,000,000 with --huge) on a fresh tracker with no agents:
 * the submit as the client sees it, the tracker's RSS after it, `status` of the job (the CLI as a
 * fresh process and the warm client), then a pool of fast simulated agents (20 × 50 slots,
 * reporting at once) drains it. Baselines: SQLite alone with the same rows (one transaction; three
 * durable state changes per task in commits of 50) and JSON.stringify of the same status payload.
 */
import { join } from "node:path";
import { BenchCluster } from "./cluster.ts";
import { memory } from "./proc_stats.ts";
import { figure, format } from "./report.ts";
import { SimFleet } from "./sim_fleet.ts";
import { drainRate, insertSeconds } from "./sqlite_floor.ts";
import { assertSucceeded, type BenchContext, secondsSince, waitForJob, type WorkloadOutcome } from "./workload.ts";

const POOL = { agents: 20, slots: 50 };
const COMMIT_BATCH = 50;

interface Run {
  submit: number;
  idleRss: number;
  rss: number;
  statusCli: number;
  statusCliBytes: number;
  statusClient: number;
  encode: number;
  drain: number;
  peakRss: number;
  insert: number;
  floor: number;
}

export async function queue(context: BenchContext): Promise<WorkloadOutcome> {
  const tasks = context.quick ? 2000 : context.huge ? 1_000_000 : 100_000;
  const runs: Run[] = [];
  for (let i = 0; i < context.runs; i++) {
    runs.push(await oneRun(context, tasks, i));
    const r = runs[i];
    context.log(
      `B4 run ${i + 1}: submit ${r.submit.toFixed(2)} s (sqlite ${r.insert.toFixed(2)} s), RSS ${
        format(mb(r.rss))
      } MB, ` +
        `status cli ${r.statusCli.toFixed(2)} s / client ${r.statusClient.toFixed(2)} s (encode ${
          r.encode.toFixed(3)
        } s), drain ${r.drain.toFixed(0)} tasks/s (floor ${r.floor.toFixed(0)})`,
    );
  }
  const pick = (key: keyof Run) => runs.map((r) => r[key]);
  const encode = { name: "JSON.stringify of the same job detail, in the bench", samples: pick("encode") };
  return {
    figures: [
      figure(
        {
          id: "b4.submit",
          name: "submit (client side)",
          unit: "s",
          better: "lower",
          target: { on: "value", op: "<=", value: 5 },
        },
        pick("submit"),
        { name: "node:sqlite: insert the same task rows in one transaction, fresh file", samples: pick("insert") },
      ),
      figure(
        {
          id: "b4.rss",
          name: "tracker RSS after the submit",
          unit: "MB",
          better: "lower",
          target: { on: "value", op: "<=", value: 300 },
        },
        pick("rss").map(mb),
        { name: "the same tracker idle, before the submit", samples: pick("idleRss").map(mb) },
      ),
      figure(
        { id: "b4.bytes_per_task", name: "tracker memory per queued task", unit: "B", better: "lower" },
        runs.map((r) => (r.rss - r.idleRss) / tasks),
      ),
      figure(
        {
          id: "b4.status_cli",
          name: "fabric status JOB --json (fresh)",
          unit: "s",
          better: "lower",
          target: { on: "value", op: "<=", value: 1 },
        },
        pick("statusCli"),
        encode,
      ),
      figure(
        {
          id: "b4.status_client",
          name: "status through the warm client",
          unit: "s",
          better: "lower",
          target: { on: "value", op: "<=", value: 1 },
        },
        pick("statusClient"),
        encode,
      ),
      figure(
        { id: "b4.drain", name: `drain by ${POOL.agents}×${POOL.slots} sim slots`, unit: "tasks/s", better: "higher" },
        pick("drain"),
        {
          name: `node:sqlite: 3 durable updates per task, ${COMMIT_BATCH} per commit (synchronous=FULL)`,
          samples: pick("floor"),
        },
      ),
      figure(
        { id: "b4.peak_rss", name: "tracker peak RSS (to the drain's end)", unit: "MB", better: "lower" },
        pick("peakRss").map(mb),
      ),
    ],
    notes: [
      `${tasks.toLocaleString("en-US")} tasks in one job (count), fresh tracker per run; status JSON is ${
        format(mb(runs[0].statusCliBytes))
      } MB; drain is timed from starting the pool to the job's end`,
    ],
  };
}

function mb(bytes: number): number {
  return bytes / 1e6;
}

async function oneRun(context: BenchContext, tasks: number, index: number): Promise<Run> {
  const cluster = await BenchCluster.start(context.root, { store: await context.newStore() });
  try {
    const pid = cluster.tracker.pid;
    const client = cluster.client();
    await client.listJobs(1); // the connection and the tracker's first request paid before the clock starts
    const idleRss = memory(pid).rss;

    let started = performance.now();
    const { jobId } = await client.submitJob({ name: "queue", tasks: [{ name: "t", run: "true", count: tasks }] });
    const submit = secondsSince(started);
    const rss = memory(pid).rss;

    const cli = await cluster.cli(["status", jobId, "--json"], 300_000);
    if (cli.code !== 0) throw new Error(`fabric status exited ${cli.code}: ${cli.stderr.slice(0, 500)}`);

    started = performance.now();
    const detail = await client.getJob(jobId);
    const statusClient = secondsSince(started);
    if (detail.tasks.length !== tasks) throw new Error(`status listed ${detail.tasks.length} of ${tasks} tasks`);
    started = performance.now();
    JSON.stringify(detail);
    const encode = secondsSince(started);

    const fleet = await SimFleet.start({
      url: cluster.url,
      caFile: cluster.caFile,
      joinToken: cluster.joinToken,
      prefix: "pool",
      slots: POOL.slots,
      connections: "shared",
    });
    let drain: number;
    try {
      started = performance.now();
      await fleet.grow(POOL.agents, 100);
      assertSucceeded(await waitForJob(client, jobId, 3_600_000));
      drain = tasks / secondsSince(started);
    } finally {
      await fleet.stop();
    }
    const peakRss = memory(pid).peak;

    const dbPath = join(cluster.root, `floor-${index}.db`);
    const insert = insertSeconds(dbPath, tasks);
    const floor = drainRate(dbPath, tasks, COMMIT_BATCH);
    return {
      submit,
      idleRss,
      rss,
      statusCli: cli.ms / 1000,
      statusCliBytes: cli.stdout.length,
      statusClient,
      encode,
      drain,
      peakRss,
      insert,
      floor,
    };
  } finally {
    await cluster.stop();
  }
}
