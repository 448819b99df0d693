/**
 * Schema migrations, applied in order. The schema version is the number of migrations applied
 * (SQLite's user_version; a `meta` row in PostgreSQL). Never edit a published migration: add one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE agents (
     id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, labels TEXT NOT NULL, slots INTEGER NOT NULL,
     version TEXT NOT NULL, os TEXT NOT NULL, arch TEXT NOT NULL, credential_hash TEXT NOT NULL,
     state TEXT NOT NULL, registered_at INTEGER NOT NULL, last_heartbeat INTEGER, load TEXT);
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, source TEXT, state TEXT NOT NULL,
     cancel_requested INTEGER NOT NULL, total INTEGER NOT NULL, counts TEXT NOT NULL,
     created_at INTEGER NOT NULL, finished_at INTEGER, version INTEGER NOT NULL);
   CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('queued', 'running');
   CREATE INDEX jobs_created ON jobs (created_at);
   CREATE TABLE tasks (
     id TEXT PRIMARY KEY, job_id TEXT NOT NULL, ord INTEGER NOT NULL, template TEXT NOT NULL,
     name TEXT NOT NULL, idx INTEGER NOT NULL, count INTEGER NOT NULL, state TEXT NOT NULL,
     attempt INTEGER NOT NULL, agent_id TEXT, exit_code INTEGER, signal TEXT, reason TEXT,
     created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, duration_ms INTEGER);
   CREATE UNIQUE INDEX tasks_job ON tasks (job_id, ord);
   CREATE TABLE attempts (
     task_id TEXT NOT NULL, attempt INTEGER NOT NULL, agent_id TEXT NOT NULL, state TEXT NOT NULL,
     assigned_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, exit_code INTEGER,
     signal TEXT, reason TEXT, PRIMARY KEY (task_id, attempt)) WITHOUT ROWID;
   CREATE TABLE logs (
     task_id TEXT NOT NULL, attempt INTEGER NOT NULL, seq INTEGER NOT NULL, stream TEXT NOT NULL,
     data TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (task_id, attempt, seq)) WITHOUT ROWID;`,
  // 2: task kinds, placement rules, retries and outputs.
  `ALTER TABLE agents ADD COLUMN weight REAL NOT NULL DEFAULT 1;
   ALTER TABLE agents ADD COLUMN capabilities TEXT NOT NULL
     DEFAULT '{"sandbox":false,"unsandboxed":true,"cgroup":null,"deno":false,"git":false}';
   ALTER TABLE agents ADD COLUMN resources TEXT NOT NULL DEFAULT '{"cpu":0,"memory":0,"disk":0}';
   ALTER TABLE jobs ADD COLUMN files TEXT NOT NULL DEFAULT '{}';
   ALTER TABLE tasks ADD COLUMN matrix TEXT;
   ALTER TABLE tasks ADD COLUMN pinned_agent TEXT;
   ALTER TABLE tasks ADD COLUMN output TEXT;
   ALTER TABLE tasks ADD COLUMN output_truncated INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN losses INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN retry_at INTEGER;`,
  // 3: draining agents.
  `ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE agents ADD COLUMN drain_deadline INTEGER;`,
  // 4: signed jobs: the signed payload and its signature, as JSON (null: not signed).
  `ALTER TABLE jobs ADD COLUMN signed TEXT;`,
  // 5: client tokens with roles (the admin token of earlier versions becomes the one named "admin",
  // created when the store was upgraded: its real age is not known), who submitted each job, and
  // agents that wait for approval or were removed.
  `CREATE TABLE tokens (
     hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_at INTEGER NOT NULL,
     expires_at INTEGER, revoked_at INTEGER, last_used_at INTEGER);
   INSERT INTO tokens (hash, name, role, created_at)
     SELECT value, 'admin', 'admin', CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM meta
     WHERE key = 'admin_token_sha256';
   DELETE FROM meta WHERE key = 'admin_token_sha256';
   ALTER TABLE jobs ADD COLUMN submitted_by TEXT;
   ALTER TABLE agents ADD COLUMN admission TEXT NOT NULL DEFAULT 'approved';`,
  // 6: retention. keep_ms: the job's own `retention:` (null: the tracker's); jobs_ended finds the jobs
  // whose time is up without reading their rows; a job whose row is gone waits in purging until its
  // tasks, attempts and logs are too (they go a few at a time, see sqlite_purge.ts).
  `ALTER TABLE jobs ADD COLUMN keep_ms INTEGER;
   CREATE INDEX jobs_ended ON jobs (finished_at, keep_ms) WHERE finished_at IS NOT NULL;
   CREATE TABLE purging (job_id TEXT PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID;`,
  // 7: secrets jobs may use, sealed by the tracker (AES-256-GCM; the key is not in the store).
  `CREATE TABLE job_secrets (
     name TEXT PRIMARY KEY, key_id TEXT NOT NULL, nonce TEXT NOT NULL, sealed TEXT NOT NULL, allow TEXT NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);`,
  // 8: the audit trail: who changed what through the API (tracker/audit.ts). Pages go newest first by id
  // (the order entries were written in); audit_at finds where `--since` starts and what retention deletes,
  // audit_actor one actor's entries.
  `CREATE TABLE audit (
     id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL,
     target TEXT, detail TEXT, address TEXT, outcome TEXT NOT NULL);
   CREATE INDEX audit_at ON audit (at);
   CREATE INDEX audit_actor ON audit (actor, id);`,
  // 9: periodic jobs (`schedule:`), and each run's link back to the one that launched it.
  `CREATE TABLE periodic (
     name TEXT PRIMARY KEY, spec TEXT NOT NULL, files TEXT NOT NULL, source TEXT, signed TEXT, submitted_by TEXT,
     paused INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_scheduled_at INTEGER,
     last_job_id TEXT, last_note TEXT);
   ALTER TABLE jobs ADD COLUMN periodic TEXT;
   ALTER TABLE jobs ADD COLUMN scheduled_at INTEGER;`,
  // 10: blobs (blobs.ts): the files shipped with jobs and the artifacts tasks leave, content-addressed, in
  // chunks of up to 4 MiB; which jobs use which, for retention; each attempt's artifacts by path. A chunk
  // is a rowid table's row (a large value in a WITHOUT ROWID table is slow to move); the others are small.
  `CREATE TABLE blobs (
     sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, complete INTEGER NOT NULL, touched_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE blob_chunks (sha256 TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (sha256, seq));
   CREATE TABLE job_blobs (
     job_id TEXT NOT NULL, sha256 TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (job_id, sha256)) WITHOUT ROWID;
   CREATE INDEX job_blobs_sha256 ON job_blobs (sha256);
   CREATE TABLE task_artifacts (
     task_id TEXT NOT NULL, attempt INTEGER NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     PRIMARY KEY (task_id, attempt, path)) WITHOUT ROWID;
   ALTER TABLE jobs ADD COLUMN packs TEXT NOT NULL DEFAULT '{}';`,
  // 11: channels (channels.ts): keys, with the revisions of their creation and last change, their expiry and
  // the task attempt they are bound to; each channel's count of keys (its limit, `fabric channels`); and the
  // history of changes watches read, by revision (AUTOINCREMENT: a revision is never handed out twice).
  `CREATE TABLE channel_keys (
     channel TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, create_revision INTEGER NOT NULL,
     mod_revision INTEGER NOT NULL, expires_at INTEGER, owner_task TEXT, owner_attempt INTEGER,
     PRIMARY KEY (channel, key)) WITHOUT ROWID;
   CREATE INDEX channel_keys_expiry ON channel_keys (expires_at) WHERE expires_at IS NOT NULL;
   CREATE INDEX channel_keys_owner ON channel_keys (owner_task, owner_attempt) WHERE owner_task IS NOT NULL;
   CREATE TABLE channels (name TEXT PRIMARY KEY, keys INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE channel_changes (
     revision INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
     value TEXT, at INTEGER NOT NULL);
   CREATE INDEX channel_changes_channel ON channel_changes (channel, revision);`,
  // 12: a periodic job's packs of `files:`, by task name, each run's as a job's (its uses of the blobs are
  // job_blobs rows under "periodic:NAME").
  `ALTER TABLE periodic ADD COLUMN packs TEXT NOT NULL DEFAULT '{}';`,
];
