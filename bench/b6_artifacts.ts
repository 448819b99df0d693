/**
 * B6 artifacts: one task leaving a 1 GB file (20 MB with --quick) that `artifacts:` keeps. Upload: from
 * the end of the task's process to its attempt reported ended (the agent hashes the file, sends it a
 * 4 MiB chunk per request, and the tracker reads it back to check it, before the end is reported).
 * Download: `fabric artifacts get` of it as a fresh process (each chunk checked, the file renamed into
 * place once its SHA-256 matches). Baseline: `cp` of a file of the same size on the same disk.
 */
import { join } from "node:path";
import { BenchCluster } from "./cluster.ts";
import { run } from "./procs.ts";
import { figure } from "./report.ts";
import { assertSucceeded, type BenchContext, waitForJob, type WorkloadOutcome } from "./workload.ts";

interface Run {
  upload: number;
  download: number;
  cp: number;
}

export async function artifacts(context: BenchContext): Promise<WorkloadOutcome> {
  const size = context.quick ? 20_000_000 : 1_000_000_000;
  const runs: Run[] = [];
  const cluster = await BenchCluster.start(context.root, { store: await context.newStore() });
  try {
    await cluster.startAgent({ name: "b6", slots: 1, allowUnsandboxed: true });
    for (let i = 0; i < context.runs; i++) {
      const one = await oneRun(cluster, context.root, size, i);
      runs.push(one);
      context.log(
        `B6 run ${i + 1}: upload ${one.upload.toFixed(2)} s, download ${one.download.toFixed(2)} s, cp ${
          one.cp.toFixed(2)
        } s`,
      );
    }
  } finally {
    await cluster.stop();
  }
  const pick = (key: keyof Run) => runs.map((r) => r[key]);
  const cp = { name: `cp of a ${(size / 1e6).toFixed(0)} MB file on the same disk`, samples: pick("cp"), paired: true };
  return {
    figures: [
      figure(
        {
          id: "b6.upload",
          name: "artifact upload (hash, send, tracker's check)",
          unit: "s",
          better: "lower",
          note: "from the process's end to its attempt reported ended",
        },
        pick("upload"),
        cp,
      ),
      figure(
        { id: "b6.download", name: "fabric artifacts get (checked, renamed into place)", unit: "s", better: "lower" },
        pick("download"),
        cp,
      ),
    ],
    notes: [
      `${(size / 1e6).toFixed(0)} MB per run, a new file each run (so never already stored), unsandboxed task, ` +
      `SQLite store; MB = 10^6 bytes`,
    ],
  };
}

async function oneRun(cluster: BenchCluster, root: string, size: number, i: number): Promise<Run> {
  const client = cluster.client();
  // Each run's bytes differ (its first line), so the tracker never holds them already.
  const script = `{ echo "run ${i} ${crypto.randomUUID()}"; head -c ${size} /dev/zero; } | head -c ${size} > big.bin`;
  const { jobId } = await client.submitJob({
    name: "artifacts",
    sandbox: false,
    tasks: [{ name: "t", run: script, artifacts: ["big.bin"] }],
  });
  assertSucceeded(await waitForJob(client, jobId));
  const taskId = `${jobId}.0`;
  const task = await client.getTask(taskId);
  if (!task.startedAt || !task.finishedAt || task.durationMs === null) throw new Error(`task ${taskId} has no times`);
  if (task.artifacts.length !== 1 || task.artifacts[0].size !== size) {
    throw new Error(`task ${taskId} kept ${JSON.stringify(task.artifacts)}, not one file of ${size} bytes`);
  }
  const upload = (Date.parse(task.finishedAt) - Date.parse(task.startedAt) - task.durationMs) / 1000;

  const out = join(root, `b6-out-${i}`);
  const got = await cluster.cli(["artifacts", "get", taskId, "big.bin", "-o", out], 600_000);
  if (got.code !== 0) throw new Error(`fabric artifacts get exited ${got.code}: ${got.stderr}`);
  const copy = join(root, `b6-copy-${i}`);
  const cp = await run("cp", [join(out, "big.bin"), copy], { timeoutMs: 600_000 });
  if (cp.code !== 0) throw new Error(`cp exited ${cp.code}: ${cp.stderr}`);
  await Deno.remove(out, { recursive: true });
  await Deno.remove(copy);
  return { upload, download: got.ms / 1000, cp: cp.ms / 1000 };
}
