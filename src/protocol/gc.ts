/** `POST /v1/gc` (`fabric gc`): retention run now. */
import { z } from "zod";

export const gcRequestSchema = z.strictObject({
  /** Stop after about this long (another call goes on where it stopped). */
  budgetMs: z.number().int().min(1).max(600_000).default(10_000),
});
export type GcRequest = z.input<typeof gcRequestSchema>;

export interface GcResponse {
  /** The tracker's --retention; 0: retention is off, no job is deleted. */
  retentionMs: number;
  /** The tracker's --audit-retention; 0: audit entries are kept for ever. */
  auditRetentionMs: number;
  /** Ended jobs deleted, and their rows. */
  jobs: number;
  tasks: number;
  attempts: number;
  logs: number;
  /** Audit entries deleted. */
  audit: number;
  /** Rows of blobs (shipped files) no job uses any more. */
  blobRows: number;
  /** More is due than this call deleted: call again. */
  more: boolean;
  seconds: number;
  /** The store's size and free space after it (null when the store could not say; freeBytes null on PostgreSQL). */
  space: { bytes: number; freeBytes: number | null } | null;
}
