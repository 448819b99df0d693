/**
 * A start: memory rebuilt from the store. Agents come back as they were (down ones stay down until
 * they speak); each active job's tasks go on where they were, or are queued again when their agent is
 * unknown; a cancel that was under way goes on. A job that cannot be loaded (its rows do not parse,
 * or do not make a job this tracker can run) is set aside, failed with the reason, and the tracker
 * starts with the others: one bad job must not keep every other from running.
 */
import type { Clock } from "../protocol/mod.ts";
import type { ActiveJobs, AgentRecord, Store, TaskRecord } from "../store/mod.ts";
import { loadNeededArtifacts } from "./artifact_inputs.ts";
import type { JobEntry } from "./entries.ts";
import { Slices } from "./slices.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";
import type { TrackerParts } from "./tracker_parts.ts";

/**
 * A new Tracker's memory, from `store` (Tracker.open): its credentials, secrets, periodic jobs and
 * channels, then its agents and active jobs (loadState), with scheduling held while they load.
 */
export async function loadTracker(parts: TrackerParts, store: Store): Promise<void> {
  await parts.credentials.load(store);
  await parts.secrets.load();
  await parts.periodic.load();
  await parts.channels.load();
  const agents = await store.loadAgents();
  const active = await store.loadActiveJobs();
  const { state, writer, clock } = parts;
  parts.scheduling.hold(true); // loaded in slices (loadState)
  await loadState({ state, tasks: parts.tasks, writer, clock, log: parts.log }, { agents, ...active });
  await loadNeededArtifacts(store, state.jobs.values());
  if (parts.logCap.maxJobBytes !== Infinity) {
    for (const job of state.jobs.values()) job.logBytes = await store.jobLogBytes(job.record.id);
  }
  parts.scheduling.hold(false);
}

export interface LoadContext {
  state: FabricState;
  tasks: TaskLifecycle;
  writer: StoreWriter;
  clock: Clock;
  log: (message: string) => void;
}

/**
 * In slices (slices.ts), so that a new leader loading a million tasks keeps renewing its lease. Safe to
 * slice: the Tracker being loaded serves nothing yet (it is returned once loaded), and its scheduling is
 * held meanwhile (loadTracker), so that a retry's timer firing between two slices places nothing on an
 * agent whose placed tasks are not all restored yet.
 */
export async function loadState(
  context: LoadContext,
  stored: ActiveJobs & { agents: AgentRecord[] },
  slices = new Slices(),
): Promise<void> {
  const { state, tasks } = context;
  const now = context.clock.now();
  for (const record of stored.agents) state.addAgent(record, now);
  const byJob = new Map<string, TaskRecord[]>();
  for (const task of stored.tasks) {
    const list = byJob.get(task.jobId);
    if (list) list.push(task);
    else byJob.set(task.jobId, [task]);
    if (slices.due()) await slices.next();
  }
  const currentAttempts = new Map(stored.attempts.map((a) => [a.taskId, a]));
  const setAside = [...stored.unreadable];
  for (const record of stored.jobs) {
    let job: JobEntry | null = null;
    try {
      job = await state.addJob(record, byJob.get(record.id) ?? []);
      byJob.delete(record.id);
      for (const task of job.tasks) {
        tasks.restore(task, currentAttempts.get(task.record.id));
        if (slices.due()) await slices.next();
      }
      if (job.record.cancelRequested) await tasks.cancel(job, slices);
    } catch (error) {
      if (job) tasks.discard(job);
      setAside.push({ jobId: record.id, reason: `it could not be loaded: ${(error as Error)?.message ?? error}` });
    }
  }
  for (const { jobId, reason } of setAside) {
    context.writer.setAside({ jobId, reason: `set aside when the tracker started: ${reason}`, at: now });
    context.log(`job ${jobId} set aside: ${reason}`);
  }
}
