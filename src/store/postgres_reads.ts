/**
 * The PostgreSQL store's reads of what is not a job's: the records a tracker holds in memory (agents,
 * tokens, jobs' secrets, periodic jobs), meta, the audit trail and the store's size, one statement each,
 * on the store's pool (postgres_store_pool.ts's `read` names what failed). A job's records are
 * postgres_job_reads.ts.
 */
import type postgres from "postgres";
import { DATA_TABLES } from "./postgres_copy.ts";
import type {
  AgentRecord,
  AuditQuery,
  JobSecretRecord,
  PeriodicRecord,
  StoredAuditRecord,
  TokenRecord,
} from "./records.ts";
import type { StoreSpace } from "./retention.ts";
import { toAgent, toAudit, toJobSecret, toPeriodic, toToken } from "./sqlite_records.ts";
import { auditPageQuery } from "./store.ts";

/** The tables whose size is the store's. */
const SIZED_TABLES = [...DATA_TABLES, "purging", "leases", "blobs", "blob_chunks", "job_blobs", "task_artifacts"];
export async function getPostgresMeta(sql: postgres.Sql, key: string): Promise<string | null> {
  const [row] = await sql`SELECT value FROM meta WHERE key = ${key}`;
  return row ? String(row.value) : null;
}

export async function loadPostgresAgents(sql: postgres.Sql): Promise<AgentRecord[]> {
  return (await sql`SELECT * FROM agents ORDER BY name`).map(toAgent);
}

export async function getPostgresAgents(sql: postgres.Sql, ids: readonly string[]): Promise<AgentRecord[]> {
  return (await sql`SELECT * FROM agents WHERE id = ANY(${[...ids]}::text[]) ORDER BY name`).map(toAgent);
}

export async function loadPostgresTokens(sql: postgres.Sql): Promise<TokenRecord[]> {
  return (await sql`SELECT * FROM tokens ORDER BY name, created_at`).map(toToken);
}

export async function loadPostgresPeriodic(sql: postgres.Sql): Promise<PeriodicRecord[]> {
  return (await sql`SELECT * FROM periodic ORDER BY name`).map(toPeriodic);
}

export async function loadPostgresJobSecrets(sql: postgres.Sql): Promise<JobSecretRecord[]> {
  return (await sql`SELECT * FROM job_secrets ORDER BY name`).map(toJobSecret);
}

export async function listPostgresAudit(sql: postgres.Sql, query: AuditQuery): Promise<StoredAuditRecord[]> {
  const { text, params } = auditPageQuery(query);
  return (await sql.unsafe(text, params)).map(toAudit);
}

export async function postgresSpace(sql: postgres.Sql): Promise<StoreSpace> {
  const [row] = await sql`
    SELECT coalesce(sum(pg_total_relation_size(to_regclass(name))), 0) AS bytes FROM unnest(${SIZED_TABLES}::text[]) AS name`;
  return { bytes: Number(row.bytes), freeBytes: null };
}
