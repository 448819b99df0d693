/**
 * B5 logs: one task writing 200 MB to stdout. Into the tracker: from the task's start to the job's
 * end seen by the client (the agent sends the end only after every chunk, so every byte is stored
 * by then), checked by reading the log back through the API. A `fabric logs -f` follower started
 * with the task shows whether following keeps up: when it sees the last byte relative to the task's
 * end, and its own rate. Baseline: the same bytes through a pipe into `wc -c`. Each run is made again
 * with the task given one secret, which the agent then masks in all 200 MB: its cost on the same path.
 */
import { BenchCluster } from "./cluster.ts";
import { MAIN, run, track } from "./procs.ts";
import { figure } from "./report.ts";
import { assertSucceeded, type BenchContext, secondsSince, waitForJob, type WorkloadOutcome } from "./workload.ts";

interface Run {
  ingest: number;
  producer: number;
  /** The same with one secret. */
  secretIngest: number;
  secretProducer: number;
  readBack: number;
  followerLag: number;
  followerRate: number;
  pipe: number;
}

interface Follower {
  bytes: number;
  firstAt: number;
  lastAt: number;
  code: number;
}

export async function logs(context: BenchContext): Promise<WorkloadOutcome> {
  const size = context.quick ? 5_000_000 : 200_000_000;
  const script = `head -c ${size} /dev/zero | tr '\\0' 'x' | fold -w 100`;
  const runs: Run[] = [];
  const cluster = await BenchCluster.start(context.root, { store: await context.newStore() });
  try {
    await cluster.startAgent({ name: "b5", slots: 2, allowUnsandboxed: true });
    await cluster.client().setSecret("B5_SECRET", `b5-${crypto.randomUUID()}`);
    for (let i = 0; i < context.runs; i++) {
      const baseline = await pipeRate(script);
      const plain = await oneRun(cluster, script, baseline.bytes, []);
      const secret = await oneRun(cluster, script, baseline.bytes, ["B5_SECRET"]);
      runs.push({ ...plain, secretIngest: secret.ingest, secretProducer: secret.producer, pipe: baseline.rate });
      const r = runs[i];
      context.log(
        `B5 run ${i + 1}: ingest ${r.ingest.toFixed(1)} MB/s (pipe ${r.pipe.toFixed(0)} MB/s), producer ${
          r.producer.toFixed(1)
        } MB/s, read back ${r.readBack.toFixed(1)} MB/s, follower lag ${r.followerLag.toFixed(2)} s at ${
          r.followerRate.toFixed(1)
        } MB/s; with a secret: ingest ${r.secretIngest.toFixed(1)} MB/s, producer ${r.secretProducer.toFixed(1)} MB/s`,
      );
    }
  } finally {
    await cluster.stop();
  }
  const pick = (key: keyof Run) => runs.map((r) => r[key]);
  const pipe = { name: `the same bytes through a pipe: ${script} | wc -c`, samples: pick("pipe") };
  const rate = "MB/s";
  return {
    figures: [
      figure(
        {
          id: "b5.ingest",
          name: "into the tracker (start to stored)",
          unit: rate,
          better: "higher",
          target: { on: "value", op: ">=", value: 50 },
        },
        pick("ingest"),
        pipe,
      ),
      figure(
        {
          id: "b5.producer",
          name: "the task's own rate under the agent",
          unit: rate,
          better: "higher",
          note:
            "bytes ÷ the duration the agent reported: the agent holds a task back to the pace the tracker stores at",
        },
        pick("producer"),
        pipe,
      ),
      figure(
        { id: "b5.ingest_secret", name: "into the tracker, the task given one secret", unit: rate, better: "higher" },
        pick("secretIngest"),
        { name: "the same without the secret (b5.ingest)", samples: pick("ingest"), paired: true },
      ),
      figure(
        {
          id: "b5.producer_secret",
          name: "the task's own rate, given one secret",
          unit: rate,
          better: "higher",
          note: "the agent masks the secret in every byte of the output before it sends it",
        },
        pick("secretProducer"),
        { name: "the same without the secret (b5.producer)", samples: pick("producer"), paired: true },
      ),
      figure(
        { id: "b5.read_back", name: "logs API read (warm client)", unit: rate, better: "higher" },
        pick("readBack"),
        pipe,
      ),
      figure(
        { id: "b5.follower_rate", name: "fabric logs -f, first to last byte", unit: rate, better: "higher" },
        pick("followerRate"),
        pipe,
      ),
      figure(
        {
          id: "b5.follower_lag",
          name: "fabric logs -f: last byte after task end",
          unit: "s",
          better: "lower",
          note: "0 would mean it keeps up; includes the tracker's own ingest lag",
        },
        pick("followerLag"),
      ),
    ],
    notes: [`${(size / 1e6).toFixed(0)} MB of 'x' in 100-column lines per run, unsandboxed task; MB = 10^6 bytes`],
  };
}

/** The baseline: bytes and MB/s of the script through a pipe into `wc -c`. */
async function pipeRate(script: string): Promise<{ bytes: number; rate: number }> {
  const result = await run("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", `${script} | wc -c`]);
  if (result.code !== 0) throw new Error(`the pipe baseline exited ${result.code}: ${result.stderr}`);
  const bytes = Number(result.stdout.trim());
  return { bytes, rate: bytes / 1e6 / (result.ms / 1000) };
}

type OneRun = Omit<Run, "pipe" | "secretIngest" | "secretProducer">;

async function oneRun(cluster: BenchCluster, script: string, expected: number, secrets: string[]): Promise<OneRun> {
  const client = cluster.client();
  const { jobId } = await client.submitJob({
    name: "logs",
    sandbox: false,
    secrets,
    tasks: [{ name: "t", run: script, maxOutput: "1G" }],
  });
  const taskId = `${jobId}.0`;
  const following = follow(cluster, taskId, expected);
  assertSucceeded(await waitForJob(client, jobId));
  const endSeen = Date.now();
  const task = await client.getTask(taskId);
  if (!task.startedAt || !task.finishedAt || task.durationMs === null) throw new Error(`task ${taskId} has no times`);
  const startedAt = Date.parse(task.startedAt);

  const readStarted = performance.now();
  let stored = 0;
  for await (const line of client.logs(taskId)) if (line.type === "chunk") stored += line.chunk.data.length;
  const readSeconds = secondsSince(readStarted);
  if (stored !== expected) throw new Error(`the tracker stored ${stored} of ${expected} bytes of ${taskId}`);

  const follower = await following;
  if (follower.code !== 0 || follower.bytes !== expected) {
    throw new Error(`fabric logs -f exited ${follower.code} after ${follower.bytes} of ${expected} bytes`);
  }
  const mb = expected / 1e6;
  return {
    ingest: mb / ((endSeen - startedAt) / 1000),
    producer: mb / (task.durationMs / 1000),
    readBack: mb / readSeconds,
    followerLag: (follower.lastAt - Date.parse(task.finishedAt)) / 1000,
    followerRate: mb / Math.max(0.001, (follower.lastAt - follower.firstAt) / 1000),
  };
}

/** `fabric logs -f TASK` as a fresh process, counting what it prints and when (wall clock, as the tracker's times). */
async function follow(cluster: BenchCluster, taskId: string, expected: number): Promise<Follower> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "logs", "-f", taskId],
    env: cluster.clientEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const release = track(child);
  try {
    const seen: Follower = { bytes: 0, firstAt: 0, lastAt: 0, code: -1 };
    for await (const chunk of child.stdout) {
      seen.firstAt ||= Date.now();
      seen.bytes += chunk.length;
      if (seen.bytes >= expected) seen.lastAt ||= Date.now();
    }
    seen.lastAt ||= Date.now();
    seen.code = (await child.status).code;
    return seen;
  } finally {
    release();
  }
}
