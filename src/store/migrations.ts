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
];
