/**
 * Blobs' reads in SQLite (blobs.ts), on the tracker's own connection, as the store's other reads; their
 * writes run in the writer worker (sqlite_blobs.ts), which never loads this file.
 */
import {
  type ArtifactRow,
  type ArtifactTotals,
  BLOB_SQL,
  type BlobRecord,
  toArtifact,
  toArtifactTotals,
  toBlob,
} from "./blobs.ts";
import type { Row } from "./sqlite_records.ts";
import type { StatementCache } from "./sqlite_statements.ts";

export function getSqliteBlob(stmt: StatementCache, sha256: string): BlobRecord | null {
  const row = stmt(BLOB_SQL.getBlob).get(sha256) as Row | undefined;
  return row ? toBlob(row) : null;
}

export function readSqliteChunk(stmt: StatementCache, sha256: string, seq: number): Uint8Array | null {
  const row = stmt(BLOB_SQL.readChunk).get(sha256, seq) as Row | undefined;
  return row ? new Uint8Array(row.data as Uint8Array) : null;
}

export function listSqliteArtifacts(stmt: StatementCache, taskId: string): ArtifactRow[] {
  return (stmt(BLOB_SQL.listArtifacts).all(taskId) as Row[]).map(toArtifact);
}

export function sqliteJobArtifacts(stmt: StatementCache, jobId: string): ArtifactTotals {
  return toArtifactTotals(stmt(BLOB_SQL.jobArtifacts).get(jobId) as Row);
}
