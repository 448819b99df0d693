/**
 * The SQLite store's reads of what is not a job's: the records a tracker holds in memory (agents,
 * tokens, jobs' secrets, periodic jobs), meta and the file's size, on the tracker's own connection. A
 * job's records are sqlite_job_reads.ts; the audit trail's page is store.ts's auditPageQuery.
 */
import type { AgentRecord, JobSecretRecord, PeriodicRecord, TokenRecord } from "./records.ts";
import type { StoreSpace } from "./retention.ts";
import { type Row, toAgent, toJobSecret, toPeriodic, toToken } from "./sqlite_records.ts";
import type { StatementCache } from "./sqlite_statements.ts";

export function getSqliteMeta(stmt: StatementCache, key: string): string | null {
  const row = stmt("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
  return row ? String(row.value) : null;
}

export function loadSqliteAgents(stmt: StatementCache): AgentRecord[] {
  return (stmt("SELECT * FROM agents ORDER BY name").all() as Row[]).map(toAgent);
}

export function getSqliteAgents(stmt: StatementCache, ids: readonly string[]): AgentRecord[] {
  const statement = stmt("SELECT * FROM agents WHERE id = ?");
  const rows = ids.map((id) => statement.get(id) as Row | undefined).filter((row) => row !== undefined);
  return rows.map(toAgent).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export function loadSqliteTokens(stmt: StatementCache): TokenRecord[] {
  return (stmt("SELECT * FROM tokens ORDER BY name, created_at").all() as Row[]).map(toToken);
}

export function loadSqliteJobSecrets(stmt: StatementCache): JobSecretRecord[] {
  return (stmt("SELECT * FROM job_secrets ORDER BY name").all() as Row[]).map(toJobSecret);
}

export function loadSqlitePeriodic(stmt: StatementCache): PeriodicRecord[] {
  return (stmt("SELECT * FROM periodic ORDER BY name").all() as Row[]).map(toPeriodic);
}

export function sqliteSpace(stmt: StatementCache): StoreSpace {
  const pages = Number((stmt("PRAGMA page_count").get() as Row).page_count);
  const free = Number((stmt("PRAGMA freelist_count").get() as Row).freelist_count);
  const size = Number((stmt("PRAGMA page_size").get() as Row).page_size);
  return { bytes: pages * size, freeBytes: free * size };
}
