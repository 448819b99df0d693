/**
 * Retention's statements in PostgreSQL (purge_rounds.ts runs them), in one transaction per step. What
 * they delete is reclaimed by PostgreSQL's (auto)vacuum and reused for new rows.
 */
import type postgres from "postgres";
import type { PurgeOps } from "./purge_rounds.ts";
import { ENDED_JOB_STATES } from "./retention.ts";
import { sweepPostgresBlobs, unusePostgresJob } from "./postgres_blobs.ts";

/** A round's tasks: the job's first that are left (one snapshot: the same rows for each part of a statement). */
const ROUND = "SELECT id FROM tasks WHERE job_id = $1 ORDER BY ord LIMIT $2";

const EXPIRE = `WITH due AS (
    SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at <= $1
      AND (keep_ms IS NULL OR finished_at + keep_ms <= $2) AND state IN (${ENDED_JOB_STATES})
    ORDER BY finished_at LIMIT $3),
  gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM due) RETURNING id),
  queued AS (INSERT INTO purging (job_id, since) SELECT id, $2 FROM gone ON CONFLICT DO NOTHING)
  SELECT count(*) AS n FROM gone`;
const ROUND_ROWS = `WITH r AS (${ROUND}) SELECT (SELECT count(*) FROM logs WHERE task_id IN (SELECT id FROM r))
  + (SELECT count(*) FROM attempts WHERE task_id IN (SELECT id FROM r)) + (SELECT count(*) FROM r) AS n`;
const FIRST_TASK_LOGS = `SELECT count(*) AS n FROM logs WHERE task_id = (${ROUND.replace("$2", "1")})`;
const DELETE_FIRST_LOGS = `WITH l AS (
    SELECT ctid FROM logs WHERE task_id = (${ROUND.replace("$2", "1")}) ORDER BY attempt, seq LIMIT $2)
  DELETE FROM logs WHERE ctid IN (SELECT ctid FROM l)`;
const DELETE_ROUND = `WITH r AS (${ROUND}),
  l AS (DELETE FROM logs WHERE task_id IN (SELECT id FROM r) RETURNING 1),
  a AS (DELETE FROM attempts WHERE task_id IN (SELECT id FROM r) RETURNING 1),
  f AS (DELETE FROM task_artifacts WHERE task_id IN (SELECT id FROM r) RETURNING 1),
  t AS (DELETE FROM tasks WHERE id IN (SELECT id FROM r) RETURNING 1)
  SELECT (SELECT count(*) FROM l) AS logs, (SELECT count(*) FROM a) AS attempts, (SELECT count(*) FROM t) AS tasks`;

export function postgresPurgeOps(tx: postgres.TransactionSql): PurgeOps {
  const count = async (text: string, params: Array<string | number>) => Number((await tx.unsafe(text, params))[0].n);
  return {
    queued: async () => {
      const [row] = await tx`SELECT job_id FROM purging ORDER BY since, job_id LIMIT 1`;
      return row ? String(row.job_id) : null;
    },
    expire: (options) => count(EXPIRE, [options.now - options.retentionMs, options.now, options.limit]),
    roundRows: (job, take) => count(ROUND_ROWS, [job, take]),
    firstTaskLogs: (job) => count(FIRST_TASK_LOGS, [job]),
    deleteFirstTaskLogs: async (job, rows) => (await tx.unsafe(DELETE_FIRST_LOGS, [job, rows])).count,
    deleteRound: async (job, take) => {
      const [row] = await tx.unsafe(DELETE_ROUND, [job, take]);
      return { logs: Number(row.logs), attempts: Number(row.attempts), tasks: Number(row.tasks) };
    },
    unqueue: async (job) => {
      await tx`DELETE FROM purging WHERE job_id = ${job}`;
      await unusePostgresJob(tx, job);
    },
    expireAudit: async (options) =>
      (await tx`
        DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at <= ${options.at} ORDER BY at LIMIT ${options.limit})`)
        .count,
    sweepBlobs: (options) => sweepPostgresBlobs(tx, options),
  };
}
