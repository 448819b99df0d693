/** What retention asks of a store, and what a store tells about the space it takes. */
import type { Fence } from "./lease.ts";

/** One bounded step of deleting the jobs whose time is up. */
export interface PurgeOptions {
  /** The time now, ms since the epoch. */
  now: number;
  /** A job ended this long ago goes, unless its own retention (keep_ms) is longer; 0 or less: none goes. */
  retentionMs: number;
  /** An audit entry this old goes; 0 or less (or absent): none goes. */
  auditRetentionMs?: number;
  /** Rows deleted in the step, at most (about: a task's attempts go with it). */
  maxRows: number;
  /** Time the step may take, at most (about: it stops at the first check past it). */
  maxMs: number;
  /**
   * The lease the deleting tracker leads by (a store several trackers share): the step deletes nothing
   * unless it is still held, so a leader cut off from the store cannot delete behind its successor.
   */
  fence?: Fence;
}

/** What one step deleted, and whether more is waiting. */
export interface PurgeResult {
  /** Jobs that ended long enough ago and are gone from every listing. */
  jobs: number;
  tasks: number;
  attempts: number;
  /** Log chunks. */
  logs: number;
  /** Entries of the audit trail. */
  audit: number;
  /** Rows of blobs no job uses any more (blobs.ts): chunks, the blobs, stray uses. */
  blobRows: number;
  /** Something is left to delete: another step would do more. */
  more: boolean;
}

/** The store's size, and how much of it holds nothing (deleted rows' space, reused by new ones). */
export interface StoreSpace {
  bytes: number;
  /** Null when the store cannot tell (PostgreSQL: its vacuum reclaims the space). */
  freeBytes: number | null;
}

/** The states of a job that has ended, as SQL: only such a job is ever deleted. */
export const ENDED_JOB_STATES = "'succeeded', 'failed', 'cancelled'";

export function emptyPurge(): PurgeResult {
  return { jobs: 0, tasks: 0, attempts: 0, logs: 0, audit: 0, blobRows: 0, more: false };
}
