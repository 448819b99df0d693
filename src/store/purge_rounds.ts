/**
 * Retention's step, the same in every store: one transaction that deletes the jobs whose time is up,
 * a round at a time, until it has deleted `maxRows` rows or taken `maxMs`. A job leaves the jobs table
 * at once (no listing shows it half deleted) and waits in `purging` while its tasks, attempts and
 * output go: as many of its first tasks as fit in what the step has left (a round's tasks go together,
 * a statement per task was four times slower), and a task alone with more output than fits, in parts.
 * A store gives the statements (PurgeOps) inside its transaction.
 */
import { BLOB_GRACE_MS } from "./blobs.ts";
import { emptyPurge, type PurgeOptions, type PurgeResult } from "./retention.ts";

/** Jobs moved to `purging` in one round; tasks looked at in one round. */
const JOBS_PER_ROUND = 16;
const TASKS_PER_ROUND = 64;
/** Audit entries deleted in one round at most. */
const AUDIT_PER_ROUND = 128;

/** The statements of a step, inside one transaction of a store. "The job's first tasks": its lowest `ord`s left. */
export interface PurgeOps {
  /** The job whose rows are being deleted, the one queued first; null when none is. */
  queued(): Promise<string | null>;
  /** Up to `limit` ended jobs whose time is up, the oldest first, out of the jobs table and into the queue: how many. */
  expire(options: { now: number; retentionMs: number; limit: number }): Promise<number>;
  /** Rows (output, attempts, the task) of the job's first `take` tasks. */
  roundRows(job: string, take: number): Promise<number>;
  /** Rows of output of the job's first task. */
  firstTaskLogs(job: string): Promise<number>;
  /** The first `count` rows of output of the job's first task, deleted: how many. */
  deleteFirstTaskLogs(job: string, count: number): Promise<number>;
  /** The job's first `take` tasks, deleted with their attempts and output. */
  deleteRound(job: string, take: number): Promise<{ logs: number; attempts: number; tasks: number }>;
  /** The job has no rows left: out of the queue, with its uses of blobs. */
  unqueue(job: string): Promise<void>;
  /** Up to `limit` audit entries recorded at or before `at`, the oldest first, deleted: how many. */
  expireAudit(options: { at: number; limit: number }): Promise<number>;
  /** Blobs no job uses and nobody touched since `before` (blobs.ts), at most `limit`: rows deleted. */
  sweepBlobs(options: { before: number; limit: number }): Promise<number>;
}

/** Blobs looked at in one round of the sweep. */
const BLOBS_PER_ROUND = 4;

/**
 * One step. It ends past `maxRows` by at most one task's attempts and row: output is deleted within
 * the bound, in parts for a task that has more.
 */
export async function purgeRounds(ops: PurgeOps, options: PurgeOptions): Promise<PurgeResult> {
  const result = emptyPurge();
  const started = performance.now();
  let rows = 0;
  // The audit trail's old entries first, in the same bounds: a few rows each, where jobs have thousands.
  const auditRetentionMs = options.auditRetentionMs ?? 0;
  // Each round deletes a full round's entries or ends the loop: bounded by maxRows.
  while (auditRetentionMs > 0) {
    if (rows >= options.maxRows || performance.now() - started >= options.maxMs) {
      result.more = true;
      return result;
    }
    const limit = Math.min(AUDIT_PER_ROUND, options.maxRows - rows);
    const deleted = await ops.expireAudit({ at: options.now - auditRetentionMs, limit });
    result.audit += deleted;
    rows += deleted;
    if (deleted < limit) break;
  }
  if (options.retentionMs <= 0) return result;
  // Each round deletes at least one row or ends the step: bounded by maxRows.
  for (;;) {
    if (rows >= options.maxRows || performance.now() - started >= options.maxMs) {
      result.more = true;
      return result;
    }
    const job = await ops.queued();
    if (job === null) {
      const expired = await ops.expire({ now: options.now, retentionMs: options.retentionMs, limit: JOBS_PER_ROUND });
      if (expired === 0) {
        // Every job whose time is up is gone: then the blobs they alone used.
        const swept = await ops.sweepBlobs({ before: options.now - BLOB_GRACE_MS, limit: BLOBS_PER_ROUND });
        if (swept === 0) return result;
        result.blobRows += swept;
        rows += swept;
        continue;
      }
      result.jobs += expired;
      rows += expired;
      continue;
    }
    const room = Math.max(1, options.maxRows - rows);
    let take = TASKS_PER_ROUND;
    let fits = await ops.roundRows(job, take);
    // Each turn takes fewer tasks: at most TASKS_PER_ROUND turns, usually none or one.
    while (take > 1 && fits > room) {
      take = Math.max(1, Math.floor((take * room) / fits));
      fits = await ops.roundRows(job, take);
    }
    if (take === 1 && fits > room && (await ops.firstTaskLogs(job)) > room) {
      const logs = await ops.deleteFirstTaskLogs(job, room);
      result.logs += logs;
      rows += logs;
      continue;
    }
    const deleted = await ops.deleteRound(job, take);
    if (deleted.tasks === 0) await ops.unqueue(job);
    result.logs += deleted.logs;
    result.attempts += deleted.attempts;
    result.tasks += deleted.tasks;
    rows += deleted.logs + deleted.attempts + deleted.tasks + (deleted.tasks === 0 ? 1 : 0);
  }
}
