/**
 * What a store keeps of blobs (protocol/blob.ts): each in fixed-size chunks, a row each, so that no
 * blob is ever read or written whole; a blob becomes usable only once the tracker has checked its
 * chunks against its hash (`completeBlob`); jobs name the blobs they use (`useBlobs`), and retention
 * deletes a blob no job uses once it has not been touched for BLOB_GRACE_MS (retention.ts).
 *
 * Blobs are content-addressed, so a write is never wrong for the tracker that makes it: they are not
 * fenced by the lease (a follower's upload writes what the leader's would).
 */

export interface BlobRecord {
  sha256: string;
  /** Bytes; 0 until it is complete. */
  size: number;
  /** Its chunks matched its hash: jobs may use it, and its chunks never change again. */
  complete: boolean;
  /** Its last upload or use, ms since the epoch. */
  touchedAt: number;
}

export interface BlobStore {
  getBlob(sha256: string): Promise<BlobRecord | null>;
  /**
   * Keep chunk `seq` of a blob being uploaded (its row is made with the first chunk). A chunk already
   * stored is kept as it is: a complete blob's chunks never change. True when this call stored it
   * (then the stored bytes are `data`), false when one was there already.
   */
  putBlobChunk(sha256: string, seq: number, data: Uint8Array, now: number): Promise<boolean>;
  readBlobChunk(sha256: string, seq: number): Promise<Uint8Array | null>;
  /** Mark it complete with its size, if exactly `chunks` chunks are stored; false if not. */
  completeBlob(sha256: string, options: { size: number; chunks: number; now: number }): Promise<boolean>;
  /** Drop the chunks of an upload whose hash did not match (never those of a complete blob). */
  dropUpload(sha256: string): Promise<void>;
  /** Record that `jobId` uses these blobs, touching them; the ones that are not complete, not recorded. */
  useBlobs(jobId: string, sha256s: string[], now: number): Promise<string[]>;
  /**
   * An attempt's artifacts, kept with the job's use of their blobs, in one transaction; an artifact whose
   * blob is not complete is not kept (its hash is answered). Recording the same again changes nothing.
   */
  recordArtifacts(record: ArtifactsRecord): Promise<string[]>;
  /** A task's artifacts, every attempt's, by attempt and path. */
  listArtifacts(taskId: string): Promise<ArtifactRow[]>;
  /** How many artifacts the job's tasks kept, and their bytes: each task's current attempt's, as its page lists. */
  jobArtifacts(jobId: string): Promise<ArtifactTotals>;
}

export interface ArtifactTotals {
  count: number;
  bytes: number;
}

export interface ArtifactsRecord {
  jobId: string;
  taskId: string;
  attempt: number;
  artifacts: Array<{ path: string; sha256: string; size: number }>;
  now: number;
}

export interface ArtifactRow {
  taskId: string;
  attempt: number;
  path: string;
  sha256: string;
  size: number;
}

/** An unused blob, or an upload never finished, is kept this long after its last touch. */
export const BLOB_GRACE_MS = 3_600_000;

/** The prefix of a periodic job's name where a job's id is, in job_blobs: the blobs its runs start with. */
export const PERIODIC_USE = "periodic:";

/** The SQL of each store, with `?1`-style (SQLite) parameters; PostgreSQL's are `$1`. */
export const BLOB_SQL = {
  getBlob: "SELECT * FROM blobs WHERE sha256 = ?1",
  touchUpload: `INSERT INTO blobs (sha256, size, complete, touched_at) VALUES (?1, 0, ?2, ?3)
    ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at`,
  putChunk: "INSERT INTO blob_chunks (sha256, seq, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
  readChunk: "SELECT data FROM blob_chunks WHERE sha256 = ?1 AND seq = ?2",
  complete: `UPDATE blobs SET complete = ?2, size = ?3, touched_at = ?4 WHERE sha256 = ?1
    AND (SELECT count(*) FROM blob_chunks WHERE sha256 = ?1 AND seq < ?5) = ?5`,
  dropChunks:
    "DELETE FROM blob_chunks WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?1 AND complete = ?2)",
  touchComplete: "UPDATE blobs SET touched_at = ?3 WHERE sha256 = ?1 AND complete = ?2",
  useBlob: "INSERT INTO job_blobs (job_id, sha256, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
  // Retention (purge_rounds.ts): a job's uses go with it; then what no job uses and nobody touched.
  unuseJob: "DELETE FROM job_blobs WHERE job_id = ?1",
  // Uses recorded by a submission that was then not stored (the store failed): no job, nor one being purged.
  // A periodic job's use ("periodic:NAME") stands while the periodic job's packs name the blob (a
  // replaced file's old packs, or a deleted periodic job's, are stray).
  strayUses:
    `SELECT job_id, sha256 FROM job_blobs u WHERE at < ?1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = u.job_id)
    AND NOT EXISTS (SELECT 1 FROM purging WHERE job_id = u.job_id)
    AND NOT EXISTS (SELECT 1 FROM periodic p WHERE '${PERIODIC_USE}' || p.name = u.job_id
      AND p.packs LIKE '%' || u.sha256 || '%') LIMIT ?2`,
  unuse: "DELETE FROM job_blobs WHERE job_id = ?1 AND sha256 = ?2",
  unused: `SELECT sha256 FROM blobs b WHERE touched_at < ?1
    AND NOT EXISTS (SELECT 1 FROM job_blobs WHERE sha256 = b.sha256) LIMIT ?2`,
  // Checked again as it is deleted: a use or an upload since the select keeps it.
  deleteBlob: `DELETE FROM blobs WHERE sha256 = ?1 AND touched_at < ?2
    AND NOT EXISTS (SELECT 1 FROM job_blobs WHERE sha256 = ?1)`,
  deleteChunks: "DELETE FROM blob_chunks WHERE sha256 = ?1",
  addArtifact: `INSERT INTO task_artifacts (task_id, attempt, path, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT DO NOTHING`,
  listArtifacts: "SELECT * FROM task_artifacts WHERE task_id = ?1 ORDER BY attempt, path",
  // A task's id is its job's and a dot (job_records.ts): a range of the key, so only the job's artifacts
  // are read, never all its tasks (a job may have a million).
  jobArtifacts: `SELECT count(*) AS count, coalesce(sum(a.size), 0) AS bytes FROM task_artifacts a
    JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt
    WHERE a.task_id > CAST(?1 AS TEXT) || '.' AND a.task_id < CAST(?1 AS TEXT) || '/' AND t.job_id = ?1`,
} as const;

/** PostgreSQL's spelling of a statement above. */
export function postgresSql(text: string): string {
  return text.replace(/\?(\d+)/g, "$$$1");
}

/** A row of `blobs`, from either store. */
export function toBlob(row: Record<string, unknown>): BlobRecord {
  return {
    sha256: String(row.sha256),
    size: Number(row.size),
    complete: row.complete === true || Number(row.complete) === 1,
    touchedAt: Number(row.touched_at),
  };
}

/** A row of `task_artifacts`, from either store. */
export function toArtifact(row: Record<string, unknown>): ArtifactRow {
  return {
    taskId: String(row.task_id),
    attempt: Number(row.attempt),
    path: String(row.path),
    sha256: String(row.sha256),
    size: Number(row.size),
  };
}

/** A row of the job's artifact totals, from either store (PostgreSQL's sums are text). */
export function toArtifactTotals(row: Record<string, unknown> | undefined): ArtifactTotals {
  return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
}

/** The distinct blobs of artifacts (an empty one has none). */
export function artifactBlobs(artifacts: ArtifactsRecord["artifacts"]): string[] {
  return [...new Set(artifacts.filter((a) => a.size > 0).map((a) => a.sha256))];
}
