/** Blobs in PostgreSQL (blobs.ts): the same statements as SQLite's, each its own transaction or one of a few. */
import type postgres from "postgres";
import {
  artifactBlobs,
  type ArtifactRow,
  type ArtifactsRecord,
  type ArtifactTotals,
  BLOB_SQL,
  type BlobRecord,
  postgresSql,
  toArtifact,
  toArtifactTotals,
  toBlob,
} from "./blobs.ts";

const SQL = Object.fromEntries(Object.entries(BLOB_SQL).map(([name, text]) => [name, postgresSql(text)])) as Record<
  keyof typeof BLOB_SQL,
  string
>;

type Sql = postgres.Sql | postgres.TransactionSql;

export async function getPostgresBlob(sql: Sql, sha256: string): Promise<BlobRecord | null> {
  const [row] = await sql.unsafe(SQL.getBlob, [sha256]);
  return row ? toBlob(row) : null;
}

export async function putPostgresChunk(
  sql: postgres.Sql,
  chunk: { sha256: string; seq: number; data: Uint8Array; now: number },
): Promise<boolean> {
  return await sql.begin(async (tx) => {
    await tx.unsafe(SQL.touchUpload, [chunk.sha256, false, chunk.now]);
    return (await tx.unsafe(SQL.putChunk, [chunk.sha256, chunk.seq, chunk.data])).count === 1;
  });
}

export async function readPostgresChunk(sql: Sql, sha256: string, seq: number): Promise<Uint8Array | null> {
  const [row] = await sql.unsafe(SQL.readChunk, [sha256, seq]);
  return row ? new Uint8Array(row.data as Uint8Array) : null;
}

export async function completePostgresBlob(
  sql: Sql,
  sha256: string,
  options: { size: number; chunks: number; now: number },
): Promise<boolean> {
  const result = await sql.unsafe(SQL.complete, [sha256, true, options.size, options.now, options.chunks]);
  return result.count === 1;
}

export async function dropPostgresUpload(sql: Sql, sha256: string): Promise<void> {
  await sql.unsafe(SQL.dropChunks, [sha256, true]);
}

export async function usePostgresBlobs(
  sql: postgres.Sql,
  use: { jobId: string; sha256s: string[]; now: number },
): Promise<string[]> {
  return await sql.begin(async (tx) => {
    const missing: string[] = [];
    for (const sha256 of use.sha256s) {
      // The update locks the row: a retention step deleting it waits, then sees it touched.
      const touched = await tx.unsafe(SQL.touchComplete, [sha256, true, use.now]);
      if (touched.count === 0) missing.push(sha256);
      else await tx.unsafe(SQL.useBlob, [use.jobId, sha256, use.now]);
    }
    return missing;
  });
}

/** As sweepSqliteBlobs, inside retention's transaction. */
export async function sweepPostgresBlobs(
  tx: postgres.TransactionSql,
  options: { before: number; limit: number },
): Promise<number> {
  let rows = 0;
  for (const use of await tx.unsafe(SQL.strayUses, [options.before, options.limit])) {
    rows += (await tx.unsafe(SQL.unuse, [use.job_id, use.sha256])).count;
  }
  for (const { sha256 } of await tx.unsafe(SQL.unused, [options.before, options.limit])) {
    if ((await tx.unsafe(SQL.deleteBlob, [sha256, options.before])).count === 0) continue;
    rows += 1 + (await tx.unsafe(SQL.deleteChunks, [sha256])).count;
  }
  return rows;
}

export async function unusePostgresJob(tx: postgres.TransactionSql, jobId: string): Promise<void> {
  await tx.unsafe(SQL.unuseJob, [jobId]);
}

export async function recordPostgresArtifacts(sql: postgres.Sql, record: ArtifactsRecord): Promise<string[]> {
  const { jobId, taskId, attempt, artifacts, now } = record;
  return await sql.begin(async (tx) => {
    const missing: string[] = [];
    for (const sha256 of artifactBlobs(artifacts)) {
      const touched = await tx.unsafe(SQL.touchComplete, [sha256, true, now]);
      if (touched.count === 0) missing.push(sha256);
      else await tx.unsafe(SQL.useBlob, [jobId, sha256, now]);
    }
    for (const a of artifacts) {
      if (a.size > 0 && missing.includes(a.sha256)) continue;
      await tx.unsafe(SQL.addArtifact, [taskId, attempt, a.path, a.sha256, a.size]);
    }
    return missing;
  });
}

export async function listPostgresArtifacts(sql: Sql, taskId: string): Promise<ArtifactRow[]> {
  return (await sql.unsafe(SQL.listArtifacts, [taskId])).map(toArtifact);
}

export async function postgresJobArtifacts(sql: Sql, jobId: string): Promise<ArtifactTotals> {
  return toArtifactTotals((await sql.unsafe(SQL.jobArtifacts, [jobId]))[0]);
}
