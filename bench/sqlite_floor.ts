/**
 * What SQLite alone does with B4's rows, as the tracker's store configures it (WAL,
 * synchronous=FULL): the floor under submitting a job and under draining it.
 */
import { DatabaseSync } from "node:sqlite";
import { TASK_COLUMNS } from "../src/store/mod.ts";
import { secondsSince } from "./workload.ts";

const COLUMNS = TASK_COLUMNS;

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
  db.exec(`CREATE TABLE tasks (${COLUMNS.join(", ")}, PRIMARY KEY (id)) WITHOUT ROWID`);
  db.exec("CREATE UNIQUE INDEX tasks_job ON tasks (job_id, ord)");
  return db;
}

function row(ord: number, now: number): (string | number | null)[] {
  return [
    `job.${ord}`,
    "job",
    ord,
    "t",
    "t",
    ord,
    0,
    null,
    null,
    "queued",
    1,
    null,
    null,
    null,
    null,
    now,
    null,
    null,
    null,
    null,
    0,
    0,
    0,
    null,
  ];
}

/** Seconds to insert `count` task rows (the tasks table's columns) in one transaction, into a new file. */
export function insertSeconds(path: string, count: number): number {
  const db = open(path);
  try {
    const insert = db.prepare(
      `INSERT INTO tasks (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`,
    );
    const now = Date.now();
    const started = performance.now();
    db.exec("BEGIN IMMEDIATE");
    for (let ord = 0; ord < count; ord++) insert.run(...row(ord, now));
    db.exec("COMMIT");
    return secondsSince(started);
  } finally {
    db.close();
  }
}

/**
 * Tasks per second through three durable state changes each (assigned, running, succeeded), one
 * commit per `batch` changes, as a tracker must write them; run on the rows `insertSeconds` left.
 */
export function drainRate(path: string, count: number, batch: number): number {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = FULL;");
    const update = db.prepare("UPDATE tasks SET state = ?, agent_id = ?, started_at = ? WHERE id = ?");
    const started = performance.now();
    for (const state of ["assigned", "running", "succeeded"]) {
      for (let from = 0; from < count; from += batch) {
        db.exec("BEGIN IMMEDIATE");
        for (let ord = from; ord < Math.min(count, from + batch); ord++) {
          update.run(state, "agent", Date.now(), `job.${ord}`);
        }
        db.exec("COMMIT");
      }
    }
    return count / secondsSince(started);
  } finally {
    db.close();
  }
}
