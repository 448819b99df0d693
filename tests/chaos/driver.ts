/**
 * Runs the planned workload: submits each job at its moment (through tracker restarts, without
 * submitting twice), cancels the jobs planned for it once some of their tasks have started, and
 * at the end gathers what fabric recorded about every job, task, attempt, output and log.
 */
import { type FabricClient, TrackerUnreachableError } from "../../src/client/mod.ts";
import type { LogChunk } from "../../src/protocol/mod.ts";
import type { JobPlan, ObservedJob, SubmittedJob } from "./model.ts";
import type { Fleet } from "./processes.ts";
import { isTransient, mapLimited, retrying } from "./retry.ts";
import { jobSpec } from "./workload.ts";

export interface DriveOptions {
  startedAt: number;
  runsDir: string;
  runsFile: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

export async function driveWorkload(plans: JobPlan[], fleet: Fleet, options: DriveOptions): Promise<SubmittedJob[]> {
  const client = fleet.client();
  const submitted: SubmittedJob[] = [];
  const cancels: Promise<void>[] = [];
  try {
    for (const plan of plans) {
      await sleepUntil(options.startedAt + plan.submitAtMs, options.signal);
      if (options.signal.aborted) break;
      const job = await submit(client, plan, options);
      submitted.push(job);
      if (plan.cancelAfterStarts !== null) cancels.push(cancelMidRun(client, fleet, job, options));
    }
    await Promise.all(cancels);
  } finally {
    client.close();
  }
  return submitted;
}

/** A submit whose answer was lost in a tracker crash may have been stored: look for it by name first. */
async function submit(client: FabricClient, plan: JobPlan, options: DriveOptions): Promise<SubmittedJob> {
  const spec = jobSpec(plan, options.runsDir, options.runsFile);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const existing = (await client.listJobs(1000)).find((j) => j.name === plan.name);
      const jobId = existing?.id ?? (await client.submitJob(spec, { source: `${plan.name}.yaml` })).jobId;
      options.log(`submitted ${plan.name} as ${jobId}`);
      return { plan, jobId, submittedAt: Date.now(), cancelAckAt: null };
    } catch (error) {
      if (!isTransient(error) || Date.now() > deadline || options.signal.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Once `cancelAfterStarts` tasks have started, cancel (API or CLI) and note when it was acknowledged. */
async function cancelMidRun(client: FabricClient, fleet: Fleet, job: SubmittedJob, options: DriveOptions) {
  const wanted = job.plan.cancelAfterStarts!;
  // On a fleet too busy to start them, the job is cancelled all the same after a while.
  const giveUpAt = Date.now() + 60_000;
  while (Date.now() < giveUpAt) {
    if (options.signal.aborted) return;
    try {
      const detail = await client.getJob(job.jobId);
      if (!["queued", "running"].includes(detail.state)) {
        options.log(`${job.plan.name} ended before it could be cancelled`);
        return;
      }
      const started = detail.counts.running + detail.counts.succeeded + detail.counts.failed;
      if (started >= wanted) break;
    } catch (error) {
      if (!isTransient(error)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await sleepUntil(Date.now() + job.plan.cancelDelayMs, options.signal);
  if (job.plan.cancelWithCli) {
    await retrying(`cancel ${job.jobId} with the CLI`, async () => {
      const result = await fleet.cli(["cancel", job.jobId, "--no-wait"]);
      if (result.code === 3) throw new TrackerUnreachableError(result.stderr.trim());
      if (result.code !== 0) throw new Error(`fabric cancel exited ${result.code}: ${result.stderr}`);
    });
  } else {
    await retrying(`cancel ${job.jobId}`, () => client.cancelJob(job.jobId));
  }
  job.cancelAckAt = Date.now();
  options.log(`cancelled ${job.plan.name} (${job.plan.cancelWithCli ? "fabric cancel" : "API"})`);
}

/** Waits until every job has ended, or `timeoutMs`; returns the jobs still going. */
export async function waitForJobs(client: FabricClient, jobs: SubmittedJob[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let going = jobs.map((j) => j.jobId);
  while (going.length > 0 && Date.now() < deadline) {
    const states = await mapLimited(going, 4, (id) => retrying(`read job ${id}`, () => client.getJob(id), 15_000));
    going = states.filter((j) => j.state === "queued" || j.state === "running").map((j) => j.id);
    if (going.length > 0) await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return going;
}

/** Everything fabric recorded about the jobs: tasks with their attempts and outputs, final attempts' logs. */
export async function observeJobs(client: FabricClient, jobs: SubmittedJob[]): Promise<ObservedJob[]> {
  return await mapLimited(jobs, 2, async (submitted) => {
    const job = await retrying(`read job ${submitted.jobId}`, () => client.getJob(submitted.jobId), 15_000);
    const tasks = await mapLimited(job.tasks, 6, async (view) => {
      const detail = await retrying(`read task ${view.id}`, () => client.getTask(view.id), 15_000);
      const chunks = await retrying(
        `read the log of ${view.id}`,
        () => readLog(client, view.id, detail.attempt),
        15_000,
      );
      return { detail, chunks };
    });
    return { submitted, state: job.state, tasks };
  });
}

async function readLog(client: FabricClient, taskId: string, attempt: number): Promise<LogChunk[]> {
  const chunks: LogChunk[] = [];
  for await (const line of client.logs(taskId, { attempt })) {
    if (line.type === "chunk") chunks.push(line.chunk);
  }
  return chunks;
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, at - Date.now()));
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
