/**
 * The secrets every tracker of a shared PostgreSQL store needs (store.ts's SecretStore: the CA's key,
 * the tokens), in the `secrets` table, which a reader of job data never reads.
 */
import type postgres from "postgres";

export async function getPostgresSecret(sql: postgres.Sql, name: string): Promise<string | null> {
  const [row] = await sql`SELECT value FROM secrets WHERE name = ${name}`;
  return row ? String(row.value) : null;
}

/** Stores each value whose name is not stored yet; answers the values stored now (the first tracker's win). */
export async function initPostgresSecrets(
  sql: postgres.Sql,
  values: Record<string, string>,
): Promise<Record<string, string>> {
  const names = Object.keys(values);
  await sql`INSERT INTO secrets (name, value) SELECT * FROM unnest(${names}::text[], ${
    names.map((name) => values[name])
  }::text[]) ON CONFLICT (name) DO NOTHING`;
  const rows = await sql`SELECT name, value FROM secrets WHERE name = ANY(${names}::text[])`;
  return Object.fromEntries(rows.map((row) => [String(row.name), String(row.value)]));
}

export async function setPostgresSecrets(sql: postgres.Sql, values: Record<string, string>): Promise<void> {
  const names = Object.keys(values);
  await sql`INSERT INTO secrets (name, value) SELECT * FROM unnest(${names}::text[], ${
    names.map((name) => values[name])
  }::text[]) ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
}
