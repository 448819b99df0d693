/**
 * Blobs in SQLite (blobs.ts): the writes run in the writer worker (a chunk is up to 4 MiB, and the
 * tracker's thread never waits for a commit), one statement or one transaction each; reads run where
 * the store's other reads do.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { artifactBlobs, type ArtifactsRecord, BLOB_SQL } from "./blobs.ts";
import { inTransaction } from "./sqlite_transaction.ts";

type Statements = Record<keyof typeof BLOB_SQL, StatementSync>;

/** A write the worker is asked for: its name and its arguments. */
export type BlobWrite =
  | { op: "putChunk"; sha256: string; seq: number; data: Uint8Array; now: number }
  | { op: "complete"; sha256: string; size: number; chunks: number; now: number }
  | { op: "dropUpload"; sha256: string }
  | { op: "use"; jobId: string; sha256s: string[]; now: number }
  | { op: "artifacts"; record: ArtifactsRecord };

export function prepareBlobStatements(db: DatabaseSync): Statements {
  return Object.fromEntries(Object.entries(BLOB_SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
}

/** Runs one write in the worker; answers what the store method returns. */
export function runBlobWrite(db: DatabaseSync, s: Statements, write: BlobWrite): unknown {
  switch (write.op) {
    case "putChunk": {
      let stored = false;
      inTransaction(db, () => {
        s.touchUpload.run(write.sha256, 0, write.now);
        stored = Number(s.putChunk.run(write.sha256, write.seq, write.data).changes) === 1;
      });
      return stored;
    }
    case "complete":
      return Number(s.complete.run(write.sha256, 1, write.size, write.now, write.chunks).changes) === 1;
    case "dropUpload":
      s.dropChunks.run(write.sha256, 1);
      return undefined;
    case "use": {
      const missing: string[] = [];
      inTransaction(db, () => {
        for (const sha256 of write.sha256s) {
          if (Number(s.touchComplete.run(sha256, 1, write.now).changes) === 0) missing.push(sha256);
          else s.useBlob.run(write.jobId, sha256, write.now);
        }
      });
      return missing;
    }
    case "artifacts": {
      const { jobId, taskId, attempt, artifacts, now } = write.record;
      const missing: string[] = [];
      inTransaction(db, () => {
        for (const sha256 of artifactBlobs(artifacts)) {
          if (Number(s.touchComplete.run(sha256, 1, now).changes) === 0) missing.push(sha256);
          else s.useBlob.run(jobId, sha256, now);
        }
        for (const a of artifacts) {
          if (a.size === 0 || !missing.includes(a.sha256)) s.addArtifact.run(taskId, attempt, a.path, a.sha256, a.size);
        }
      });
      return missing;
    }
  }
}

/**
 * Retention's part for blobs, inside its transaction: uses of jobs that were never stored, then blobs
 * no job uses and nobody touched since `before`, at most `limit` of each. Answers the rows deleted.
 */
export function sweepSqliteBlobs(s: Statements, options: { before: number; limit: number }): number {
  let rows = 0;
  const strays = s.strayUses.all(options.before, options.limit) as Array<{ job_id: string; sha256: string }>;
  for (const use of strays) rows += Number(s.unuse.run(use.job_id, use.sha256).changes);
  const unused = s.unused.all(options.before, options.limit) as Array<{ sha256: string }>;
  for (const { sha256 } of unused) {
    if (Number(s.deleteBlob.run(sha256, options.before).changes) === 0) continue;
    rows += 1 + Number(s.deleteChunks.run(sha256).changes);
  }
  return rows;
}
