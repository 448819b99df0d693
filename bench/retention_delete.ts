/**
 * Retention under load, run alone (not a workload of `deno task bench`):
 *
 *     deno run -A bench/retention_delete.ts [--tasks 100000] [--samples 200]
 *
 * One tracker and one agent on loopback. A job of N tasks (two attempts and a line of output each),
 * ended 30 days ago, is written into the tracker's store beside it; one-task jobs then run back to
 * back through a warm client, as B2's warm row does, before, while and after `fabric gc` deletes that
 * job, and their submit-to-end latencies are compared. Prints the delete's time and the store's size.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FabricClient } from "../src/client/mod.ts";
import { emptyCounts } from "../src/protocol/mod.ts";
import { emptyBatch, queuedTask, SqliteStore } from "../src/store/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { percentile } from "./stats.ts";
import { waitForJob } from "./workload.ts";

const args = parseArgs({ args: Deno.args, options: { tasks: { type: "string" }, samples: { type: "string" } } });
const TASKS = Number(args.values.tasks ?? 100_000);
const SAMPLES = Number(args.values.samples ?? 200);
const DAY = 86_400_000;

const cluster = await Cluster.start({ agents: [{ name: "d1", extraArgs: ["--allow-unsandboxed"] }] });
const client = new FabricClient({
  url: cluster.url,
  token: cluster.adminToken,
  caPem: await Deno.readTextFile(join(cluster.trackerDir, "ca.pem")),
});
try {
  // After the tracker's first retention pass (5 s after its start): the next is a minute later, and
  // this run's gc is what deletes the job.
  await new Promise((resolve) => setTimeout(resolve, 6000));
  const insert = performance.now();
  await writeOldJob(join(cluster.trackerDir, "fabric.db"), TASKS);
  console.log(
    `wrote a job of ${TASKS} tasks (ended 30 days ago) in ${((performance.now() - insert) / 1000).toFixed(1)}s`,
  );

  const spec = { name: "one", sandbox: false, tasks: [{ name: "t", run: "true" }] };
  const oneJob = async () => {
    const started = performance.now();
    const submitted = await client.submitJob(spec);
    const job = await waitForJob(client, submitted.jobId, 60_000, submitted.version);
    if (job.state !== "succeeded") throw new Error(`job ${job.id} ${job.state}`);
    return performance.now() - started;
  };
  for (let i = 0; i < 200; i++) await oneJob();

  const before: number[] = [];
  for (let i = 0; i < SAMPLES; i++) before.push(await oneJob());

  const during: number[] = [];
  const gcStarted = performance.now();
  let deleting = true;
  const gc = (async () => {
    const total = { jobs: 0, tasks: 0, attempts: 0, logs: 0 };
    for (let round = 0; round < 1000; round++) {
      const result = await client.gc(120_000);
      total.jobs += result.jobs;
      total.tasks += result.tasks;
      total.attempts += result.attempts;
      total.logs += result.logs;
      if (!result.more) return { ...total, space: result.space };
    }
    throw new Error("gc did not finish");
  })().finally(() => deleting = false);
  while (deleting) during.push(await oneJob());
  const deleted = await gc;
  const gcSeconds = (performance.now() - gcStarted) / 1000;

  const after: number[] = [];
  for (let i = 0; i < SAMPLES; i++) after.push(await oneJob());

  const rows = deleted.jobs + deleted.tasks + deleted.attempts + deleted.logs;
  console.log(
    `deleted ${deleted.jobs} job, ${deleted.tasks} tasks, ${deleted.attempts} attempts, ${deleted.logs} log rows ` +
      `(${rows} rows) in ${gcSeconds.toFixed(2)}s = ${(rows / gcSeconds).toFixed(0)} rows/s; store ` +
      `${(deleted.space!.bytes / 1e6).toFixed(1)} MB, ${((deleted.space!.freeBytes ?? 0) / 1e6).toFixed(1)} MB free`,
  );
  for (const [name, samples] of [["before", before], ["during the delete", during], ["after", after]] as const) {
    const p = (q: number) => percentile(samples, q).toFixed(2);
    console.log(
      `one-task job, ${name}: ${samples.length} jobs, p50 ${p(50)} ms, p95 ${p(95)} ms, p99 ${p(99)} ms, ` +
        `max ${Math.max(...samples).toFixed(1)} ms`,
    );
  }
} finally {
  client.close();
  await cluster.stop();
}

/** The job, written through a store of its own on the tracker's file (the tracker's writes wait meanwhile). */
async function writeOldJob(path: string, tasks: number): Promise<void> {
  const store = SqliteStore.open(path);
  try {
    const ended = Date.now() - 30 * DAY;
    const batch = emptyBatch();
    batch.newJobs.push({
      id: "oldjob",
      name: "old",
      spec: { name: "old", tasks: [{ name: "t", run: "echo $FABRIC_TASK_INDEX", count: tasks }] },
      files: {},
      source: null,
      signed: null,
      submittedBy: null,
      state: "succeeded",
      cancelRequested: false,
      total: tasks,
      counts: { ...emptyCounts(), succeeded: tasks },
      createdAt: ended - 3600_000,
      finishedAt: ended,
      version: tasks * 3,
    });
    for (let ord = 0; ord < tasks; ord++) {
      const id = `old${ord}`;
      batch.tasks.push({
        ...queuedTask({
          id,
          jobId: "oldjob",
          ord,
          template: "t",
          name: `t[${ord}]`,
          index: ord,
          count: tasks,
          matrix: null,
          pinnedAgent: null,
          createdAt: ended - 3600_000,
        }),
        state: "succeeded",
        attempt: 2,
        failures: 1,
        exitCode: 0,
        startedAt: ended - 1000,
        finishedAt: ended,
        durationMs: 1000,
      });
      for (const attempt of [1, 2]) {
        batch.attempts.push({
          taskId: id,
          attempt,
          agentId: "gone",
          state: attempt === 1 ? "failed" : "succeeded",
          assignedAt: ended - 2000,
          startedAt: ended - 1000,
          finishedAt: ended,
          exitCode: attempt === 1 ? 1 : 0,
          signal: null,
          reason: null,
        });
      }
      batch.logs.push({
        taskId: id,
        attempt: 2,
        seq: 0,
        stream: "stdout",
        data: `task ${ord} says hello\n`,
        at: ended,
      });
    }
    await store.write(batch);
  } finally {
    await store.close();
  }
}
