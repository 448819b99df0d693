/**
 * PostgreSQL schema migrations, applied in order; the version is the number applied, in the one
 * row of `fabric_schema`. Never edit a published migration: add one.
 *
 * The tables hold what SQLite's do, column for column (records map to rows the same way), with
 * PostgreSQL's types: every whole number is a bigint (an agent's times, sequence numbers and exit
 * codes are not bounded by the protocol, and a value that did not fit would fail its batch and every
 * retry of it), a task's duration a double (an agent measures it in fractions of a millisecond),
 * flags are booleans, log data is bytea (a task's output may hold NUL bytes, which
 * text refuses). JSON stays text, as it is written and read whole. Keys sort as bytes (COLLATE "C"),
 * as in SQLite, so lists come back in the same order from either store.
 *
 * `secrets` holds what every tracker of a shared database needs and no one who only reads job data
 * should: the CA's key, and the tokens. It is a table of its own so that it can be left out of a
 * reader's GRANT (docs/postgres.md). `job_secrets` holds the secrets jobs use, sealed by the tracker
 * with a key that is not in the database. `leases` is for several trackers: the one that places work holds
 * the lease named "leader" (lease.ts), and `fabric_fence` (migration 4) is the check each of its
 * writes makes, in its own transaction, that it still does.
 */
import type postgres from "postgres";
import { FabricError } from "../protocol/mod.ts";

export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
   CREATE TABLE agents (
     id text COLLATE "C" PRIMARY KEY, name text COLLATE "C" NOT NULL UNIQUE, labels text NOT NULL,
     slots bigint NOT NULL, version text NOT NULL, os text NOT NULL, arch text NOT NULL,
     credential_hash text NOT NULL, state text NOT NULL, registered_at bigint NOT NULL, last_heartbeat bigint,
     load text, weight double precision NOT NULL, capabilities text NOT NULL, resources text NOT NULL,
     draining boolean NOT NULL, drain_deadline bigint);
   CREATE TABLE jobs (
     id text COLLATE "C" PRIMARY KEY, name text NOT NULL, spec text NOT NULL, source text, state text NOT NULL,
     cancel_requested boolean NOT NULL, total bigint NOT NULL, counts text NOT NULL, created_at bigint NOT NULL,
     finished_at bigint, version bigint NOT NULL, files text NOT NULL, signed text);
   CREATE INDEX jobs_active ON jobs (created_at, id) WHERE state IN ('queued', 'running');
   CREATE INDEX jobs_created ON jobs (created_at, id);
   CREATE TABLE tasks (
     id text COLLATE "C" PRIMARY KEY, job_id text COLLATE "C" NOT NULL, ord bigint NOT NULL, template text NOT NULL,
     name text NOT NULL, idx bigint NOT NULL, count bigint NOT NULL, matrix text, pinned_agent text,
     state text NOT NULL, attempt bigint NOT NULL, agent_id text, exit_code bigint, signal text, reason text,
     created_at bigint NOT NULL, started_at bigint, finished_at bigint, duration_ms double precision, output text,
     output_truncated boolean NOT NULL, failures bigint NOT NULL, losses bigint NOT NULL, retry_at bigint);
   CREATE UNIQUE INDEX tasks_job ON tasks (job_id, ord);
   CREATE TABLE attempts (
     task_id text COLLATE "C" NOT NULL, attempt bigint NOT NULL, agent_id text NOT NULL, state text NOT NULL,
     assigned_at bigint NOT NULL, started_at bigint, finished_at bigint, exit_code bigint, signal text, reason text,
     PRIMARY KEY (task_id, attempt));
   CREATE TABLE logs (
     task_id text COLLATE "C" NOT NULL, attempt bigint NOT NULL, seq bigint NOT NULL, stream text NOT NULL,
     data bytea NOT NULL, at bigint NOT NULL, PRIMARY KEY (task_id, attempt, seq));
   CREATE TABLE secrets (name text COLLATE "C" PRIMARY KEY, value text NOT NULL);
   CREATE TABLE leases (
     name text COLLATE "C" PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at bigint NOT NULL);`,
  // 2: client tokens with roles, as SQLite's migration 5: the admin token of earlier versions becomes the
  // one named "admin" (created when the store was upgraded: its real age is not known), who submitted
  // each job, and agents that wait for approval or were removed.
  `CREATE TABLE tokens (
     hash text COLLATE "C" PRIMARY KEY, name text COLLATE "C" NOT NULL, role text NOT NULL,
     created_at bigint NOT NULL, expires_at bigint, revoked_at bigint, last_used_at bigint);
   INSERT INTO tokens (hash, name, role, created_at)
     SELECT value, 'admin', 'admin', (extract(epoch FROM now()) * 1000)::bigint FROM meta
     WHERE key = 'admin_token_sha256';
   DELETE FROM meta WHERE key = 'admin_token_sha256';
   ALTER TABLE jobs ADD COLUMN submitted_by text;
   ALTER TABLE agents ADD COLUMN admission text NOT NULL DEFAULT 'approved';`,
  // 3: retention, as SQLite's migration 6: keep_ms is the job's own `retention:`; a job whose row is
  // gone waits in purging until its tasks, attempts and logs are too (purge_rounds.ts).
  `ALTER TABLE jobs ADD COLUMN keep_ms bigint;
   CREATE INDEX jobs_ended ON jobs (finished_at, keep_ms) WHERE finished_at IS NOT NULL;
   CREATE TABLE purging (job_id text COLLATE "C" PRIMARY KEY, since bigint NOT NULL);`,
  // 4: the lease's fence. The store's time in milliseconds, as the lease's expiry is kept: clock_timestamp(),
  // not now() (the start of the transaction), so that a transaction that waited for a lock does not judge by
  // a stale time.
  // The fence locks the lease row (FOR SHARE) until the write commits: a successor's UPDATE of it waits
  // for the write, and a write that comes after the successor's UPDATE sees the new epoch and is refused
  // (READ COMMITTED re-reads a row updated meanwhile). Its error code (FB001) is fabric's own.
  `CREATE FUNCTION fabric_now_ms() RETURNS bigint LANGUAGE sql VOLATILE
     AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
   CREATE FUNCTION fabric_fence(fence_holder text, fence_epoch bigint) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
   BEGIN
     PERFORM 1 FROM leases WHERE name = 'leader' AND holder = fence_holder AND epoch = fence_epoch
       AND expires_at > fabric_now_ms() FOR SHARE;
     IF NOT FOUND THEN
       RAISE EXCEPTION USING ERRCODE = 'FB001',
         MESSAGE = format('the lease of epoch %s is no longer held by %s', fence_epoch, fence_holder);
     END IF;
     RETURN 1;
   END $$;`,
  // 5: the trackers sharing the database, each writing its own row (store/trackers.ts).
  `CREATE TABLE trackers (
     id text COLLATE "C" PRIMARY KEY, url text NOT NULL, version text NOT NULL, started_at bigint NOT NULL,
     last_seen bigint NOT NULL);`,
  // 6: secrets jobs may use, sealed by the tracker (AES-256-GCM; the key is in its data directory, not here).
  `CREATE TABLE job_secrets (
     name text COLLATE "C" PRIMARY KEY, key_id text NOT NULL, nonce text NOT NULL, sealed text NOT NULL,
     allow text NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL);`,
  // 7: the audit trail, as SQLite's migration 8 (id: the order entries were written in).
  `CREATE TABLE audit (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, actor text COLLATE "C" NOT NULL,
     role text, action text COLLATE "C" NOT NULL, target text, detail text, address text, outcome text NOT NULL);
   CREATE INDEX audit_at ON audit (at);
   CREATE INDEX audit_actor ON audit (actor, id);`,
  // 8: periodic jobs, as SQLite's migration 9.
  `CREATE TABLE periodic (
     name text COLLATE "C" PRIMARY KEY, spec text NOT NULL, files text NOT NULL, source text, signed text,
     submitted_by text, paused boolean NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL,
     last_scheduled_at bigint, last_job_id text, last_note text);
   ALTER TABLE jobs ADD COLUMN periodic text;
   ALTER TABLE jobs ADD COLUMN scheduled_at bigint;`,
  // 9: blobs, as SQLite's migration 10 (blobs.ts).
  `CREATE TABLE blobs (
     sha256 text COLLATE "C" PRIMARY KEY, size bigint NOT NULL, complete boolean NOT NULL, touched_at bigint NOT NULL);
   CREATE TABLE blob_chunks (
     sha256 text COLLATE "C" NOT NULL, seq bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (sha256, seq));
   CREATE TABLE job_blobs (
     job_id text COLLATE "C" NOT NULL, sha256 text COLLATE "C" NOT NULL, at bigint NOT NULL, PRIMARY KEY (job_id, sha256));
   CREATE INDEX job_blobs_sha256 ON job_blobs (sha256);
   CREATE TABLE task_artifacts (
     task_id text COLLATE "C" NOT NULL, attempt bigint NOT NULL, path text COLLATE "C" NOT NULL,
     sha256 text COLLATE "C" NOT NULL, size bigint NOT NULL, PRIMARY KEY (task_id, attempt, path));
   ALTER TABLE jobs ADD COLUMN packs text NOT NULL DEFAULT '{}';`,
  // 10: channels, as SQLite's migration 11 (channels.ts); a revision comes from the one sequence.
  `CREATE SEQUENCE channel_revision;
   CREATE TABLE channel_keys (
     channel text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
     create_revision bigint NOT NULL, mod_revision bigint NOT NULL, expires_at bigint, owner_task text COLLATE "C",
     owner_attempt bigint, PRIMARY KEY (channel, key));
   CREATE INDEX channel_keys_expiry ON channel_keys (expires_at) WHERE expires_at IS NOT NULL;
   CREATE INDEX channel_keys_owner ON channel_keys (owner_task, owner_attempt) WHERE owner_task IS NOT NULL;
   CREATE TABLE channels (name text COLLATE "C" PRIMARY KEY, keys bigint NOT NULL);
   CREATE TABLE channel_changes (
     revision bigint PRIMARY KEY DEFAULT nextval('channel_revision'), channel text COLLATE "C" NOT NULL,
     key text COLLATE "C" NOT NULL, kind text NOT NULL, value text, at bigint NOT NULL);
   ALTER SEQUENCE channel_revision OWNED BY channel_changes.revision;
   CREATE INDEX channel_changes_channel ON channel_changes (channel, revision);`,
  // 11: the fence takes the lease's row FOR KEY SHARE, not FOR SHARE: a long fenced write (a job of a
  // million tasks takes its writer tens of seconds) no longer holds up its own holder's renewals (an
  // UPDATE of expires_at alone is a no-key update, which a key share does not block), so the leader kept
  // losing its lease during such a submit. A takeover still waits for every fenced write in flight: the
  // epoch is now part of a unique key, so the takeover's UPDATE of it is a key update, which a key
  // share blocks.
  `CREATE UNIQUE INDEX leases_epoch ON leases (name, epoch);
   CREATE OR REPLACE FUNCTION fabric_fence(fence_holder text, fence_epoch bigint) RETURNS integer LANGUAGE plpgsql
   VOLATILE AS $$
   BEGIN
     PERFORM 1 FROM leases WHERE name = 'leader' AND holder = fence_holder AND epoch = fence_epoch
       AND expires_at > fabric_now_ms() FOR KEY SHARE;
     IF NOT FOUND THEN
       RAISE EXCEPTION USING ERRCODE = 'FB001',
         MESSAGE = format('the lease of epoch %s is no longer held by %s', fence_epoch, fence_holder);
     END IF;
     RETURN 1;
   END $$;`,
  // 12: a periodic job's packs, as SQLite's migration 12.
  `ALTER TABLE periodic ADD COLUMN packs text NOT NULL DEFAULT '{}';`,
];

/** The advisory lock (two 32-bit keys: "fabr", 1) held while migrating, so that two trackers starting at once take turns. */
const MIGRATION_LOCK = [0x66616272, 1] as const;

/**
 * Bring the database to the latest schema: the first tracker on an empty database creates it, a
 * later one finds it done. In one transaction under the migration lock: a tracker that starts while
 * another migrates waits, then sees the migrated schema; a failed migration leaves nothing.
 */
export async function migratePostgres(sql: postgres.Sql, where: string): Promise<number> {
  if ((await schemaVersion(sql)) === POSTGRES_MIGRATIONS.length) return POSTGRES_MIGRATIONS.length;
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}, ${MIGRATION_LOCK[1]})`;
    await tx`CREATE TABLE IF NOT EXISTS fabric_schema (version integer NOT NULL)`;
    const current = await schemaVersion(tx);
    if (current > POSTGRES_MIGRATIONS.length) {
      throw new FabricError(
        "unavailable",
        `The store ${where} has schema version ${current}, newer than this fabric (${POSTGRES_MIGRATIONS.length}); upgrade fabric`,
      );
    }
    for (let version = current; version < POSTGRES_MIGRATIONS.length; version++) {
      await tx.unsafe(POSTGRES_MIGRATIONS[version]);
    }
    await tx`DELETE FROM fabric_schema`;
    await tx`INSERT INTO fabric_schema (version) VALUES (${POSTGRES_MIGRATIONS.length})`;
    return POSTGRES_MIGRATIONS.length;
  });
}

/** The version in `fabric_schema`; 0 for a database fabric has not set up. */
export async function schemaVersion(sql: postgres.Sql | postgres.TransactionSql): Promise<number> {
  const [present] = await sql`SELECT to_regclass('fabric_schema') IS NOT NULL AS present`;
  if (!present.present) return 0;
  const rows = await sql`SELECT max(version) AS version FROM fabric_schema`;
  return Number(rows[0]?.version ?? 0);
}
