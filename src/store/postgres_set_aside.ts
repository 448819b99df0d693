/** Jobs set aside, in PostgreSQL: the statements, and the types of their one row per job. */
import type { TaskState } from "../protocol/mod.ts";
import type { PgType } from "./postgres_statement.ts";
import { TASK_STATE_ENDED } from "./sqlite_rows.ts";

const t = "text", n = "bigint";

/**
 * Jobs set aside (sqlite_rows.ts's setAside statements, row: reason, at, job id), applied after the
 * rest of the batch, one statement after the other: each sees what the one before changed (the job's
 * counts are its tasks' once they have ended), which the CTEs of one statement would not.
 */
export const SET_ASIDE: PgType[] = [t, n, t];
const SET_ASIDE_ROWS = "unnest($1::text[], $2::bigint[], $3::text[]) AS s(reason, at, job_id)";
const ENDED = Object.keys(TASK_STATE_ENDED).filter((state) => TASK_STATE_ENDED[state as TaskState]);
export const SET_ASIDE_SQL = [
  `UPDATE attempts SET state = 'lost', reason = s.reason, finished_at = s.at FROM ${SET_ASIDE_ROWS}, tasks
    WHERE attempts.state IN ('assigned', 'running') AND tasks.id = attempts.task_id AND tasks.job_id = s.job_id`,
  `UPDATE tasks SET state = 'failed', reason = s.reason, finished_at = s.at, retry_at = NULL FROM ${SET_ASIDE_ROWS}
    WHERE tasks.job_id = s.job_id AND tasks.state NOT IN (${ENDED.map((state) => `'${state}'`).join(", ")})`,
  `UPDATE jobs SET state = 'failed', finished_at = s.at, version = jobs.version + 1, counts = (SELECT json_build_object(${
    Object.keys(TASK_STATE_ENDED).map((state) => `'${state}', count(*) FILTER (WHERE state = '${state}')`).join(", ")
  })::text FROM tasks WHERE tasks.job_id = s.job_id) FROM ${SET_ASIDE_ROWS} WHERE jobs.id = s.job_id`,
];
