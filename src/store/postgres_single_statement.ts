/** A small batch as one PostgreSQL statement: a data-modifying CTE per kind of record. */
import { batchStatements, CHUNK_ROWS, LOG_CHUNK_BYTES } from "./postgres_rows.ts";
import type { Statement } from "./postgres_statement.ts";
import type { WriteBatch } from "./records.ts";

/**
 * A batch of at most one chunk of each kind as ONE statement: each kind's statement a data-modifying
 * CTE of it, which PostgreSQL runs as one transaction (all of it or none). One statement is one
 * answer to wait for; a pipelined BEGIN ... COMMIT is one per statement, and each wakes the tracker
 * (measured on this machine: a two-kind batch took 0.7 ms as one statement, 2.8 ms pipelined, p25).
 * The kinds never touch the same rows (a job is new or updated, never both), so that the CTEs all
 * see the same snapshot changes nothing. A `fence` (a SELECT) is the statement's own query: when it
 * fails, so does the statement, CTEs included. Null for an empty batch, one that needs several
 * chunks, or one that sets jobs aside or both sets and deletes secrets (its statements must each see the
 * one before).
 */
export function singleStatement(batch: WriteBatch, fence?: Statement): Statement | null {
  if (batch.setAside.length > 0) return null;
  if (batch.jobSecrets.length > 0 && batch.deletedJobSecrets.length > 0) return null;
  if (batch.periodic.length > 0 && batch.deletedPeriodic.length > 0) return null;
  const counts = [batch.meta.size, batch.agents.length, batch.newJobs.length, batch.jobs.length, batch.tasks.length];
  counts.push(batch.attempts.length, batch.logs.length, batch.tokens.length);
  counts.push(batch.jobSecrets.length, batch.deletedJobSecrets.length, batch.audit.length);
  counts.push(batch.periodic.length, batch.deletedPeriodic.length);
  if (counts.some((count) => count > CHUNK_ROWS) || counts.every((count) => count === 0)) return null;
  let bytes = 0;
  for (const log of batch.logs) bytes += log.data.length;
  if (bytes > LOG_CHUNK_BYTES) return null;
  const parts = [...batchStatements(batch)];
  if (parts.length === 1 && !fence) return parts[0];
  let offset = 0;
  const renumber = (part: Statement) => {
    const text = part.text.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + offset}`);
    offset += part.params.length;
    return text;
  };
  const texts = parts.map((part, i) => `w${i} AS (${renumber(part)})`);
  const all = fence ? [...parts, fence] : parts;
  const statement: Statement = {
    text: `WITH ${texts.join(",\n")} ${fence ? renumber(fence) : "SELECT 1"}`,
    params: all.flatMap((part) => part.params),
    oids: all.flatMap((part) => part.oids),
  };
  if (all.some((part) => part.oneOff)) statement.oneOff = true;
  return statement;
}
