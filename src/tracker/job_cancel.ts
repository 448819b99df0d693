/**
 * A job's cancel, in slices (slices.ts): a million tasks take seconds, and each slice's changes (at
 * most CANCEL_WRITE_TASKS tasks) are written before the next. Safe to slice, as everything seen
 * between two slices is a job being cancelled, consistent at each boundary:
 * - `cancelRequested` is set (and written) before the first slice: from then, an attempt of the job
 *   that ends in any way (a report, a loss, a hand-back) ends its task cancelled, never retried, and
 *   the job reads as cancelling.
 * - A task not reached yet is as it was, but is not placed any more (the planner passes over a job
 *   being cancelled); one placed before the cancel is cancelled when reached as any placed task is
 *   (assigned: at once, its agent told at its next claim; running: its agent is asked to stop it).
 * - A task reached has ended, or runs with its stop requested: nothing queues an ended task again.
 * - The counts move a task at a time from its state to cancelled, each change with the job's
 *   version, so a status or a watch sees a true count at any boundary; the job ends (and leaves
 *   memory) only with its last task, never with a task still queued.
 */
import type { AgentEntry, JobEntry, TaskEntry } from "./entries.ts";
import type { Slices } from "./slices.ts";
import type { StoreWriter } from "./store_writer.ts";

/**
 * A cancel writes the tasks it ended at most this many at a time (one statement's rows on PostgreSQL,
 * postgres_rows.ts CHUNK_ROWS), each in a transaction of its own. A fenced write holds the lease's row
 * until it commits (fabric_fence), and the lease's renewal, the worker's too, waits for it: 5,000
 * tasks' rows took 200-400 ms to write on a busy 2-core machine, so a million in one transaction would
 * hold the lease past its end.
 */
const CANCEL_WRITE_TASKS = 5_000;

/** What a cancel needs of the task lifecycle (task_lifecycle.ts). */
export interface CancelSteps {
  /** The job's cancelRequested was just set: mark its record for the store. */
  requested: () => void;
  /** Ends a task that has not started (queued, lost, assigned) as cancelled. */
  end: (task: TaskEntry) => void;
  agent: (id: string) => AgentEntry | undefined;
  writer: StoreWriter;
}

export async function cancelJob(
  job: JobEntry,
  slices: Slices,
  steps: CancelSteps,
): Promise<{ cancelled: number; stopping: number }> {
  let cancelled = 0;
  let stopping = 0;
  if (!job.record.cancelRequested) {
    job.record.cancelRequested = true;
    steps.requested();
  }
  let unwritten = 0;
  for (const task of job.tasks) {
    if (unwritten >= CANCEL_WRITE_TASKS || slices.due()) {
      // Written before the next slice, in a transaction of their own (CANCEL_WRITE_TASKS). A store
      // that fails does not stop the pass: the writer keeps the changes and tries again, and a
      // cancel stopped half way would leave the rest of the job's tasks queued, to be placed.
      await steps.writer.flush().catch(() => {});
      unwritten = 0;
      await slices.next();
    }
    const state = task.record.state;
    // An assigned task may already be on its agent: the next claim tells the agent to stop it.
    const agent = task.attempt ? steps.agent(task.attempt.agentId) : undefined;
    if (state === "queued" || state === "lost" || state === "assigned") {
      steps.end(task);
      cancelled++;
      unwritten++;
    } else if (state === "running" && !task.stopRequested) {
      task.stopRequested = true;
      stopping++;
    } else if (state === "running") {
      stopping++;
      continue;
    } else {
      continue;
    }
    if (agent) steps.writer.afterCommit(() => agent.claim.notify());
  }
  return { cancelled, stopping };
}
