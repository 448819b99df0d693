/**
 * What the tracker counts as it works: each a Counter or Histogram made once, so that counting on the
 * hot path is an addition (no labels looked up, nothing allocated). Names follow Prometheus's
 * conventions: the `fabric_` prefix, base units (seconds, bytes), `_total` on counters. No label holds
 * a task's or an agent's id: a label's values stay few whatever the load.
 */
import { FABRIC_VERSION } from "../../protocol/mod.ts";
import type { CommitObserver } from "../store_writer.ts";
import { type Counter, type Histogram, Registry } from "./registry.ts";

/** A task's wait for a slot and its run: from milliseconds to hours. */
const TASK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400];
/** A commit: a tenth of a millisecond when the disk is not waited for, up to seconds when it is slow. */
const COMMIT_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const JOB_OUTCOMES = ["succeeded", "failed", "cancelled"] as const;
export const TASK_OUTCOMES = ["succeeded", "failed", "cancelled", "skipped"] as const;
export type JobOutcome = typeof JOB_OUTCOMES[number];
export type TaskOutcome = typeof TASK_OUTCOMES[number];

export class TrackerMetrics {
  readonly registry = new Registry();
  readonly jobsSubmitted: Counter;
  readonly tasksSubmitted: Counter;
  readonly jobsFinished: Record<JobOutcome, Counter>;
  readonly tasksFinished: Record<TaskOutcome, Counter>;
  readonly tasksRetried: Counter;
  readonly tasksLost: Counter;
  /** From a task's submit to the start of its first attempt. */
  readonly taskWait: Histogram;
  readonly taskRun: Histogram;
  readonly heartbeatsMissed: Counter;
  readonly logBytes: Counter;
  readonly logBytesDropped: Counter;
  readonly commits: Histogram;
  readonly commitErrors: Counter;
  readonly jobsDeleted: Counter;
  readonly auditEntries: Counter;
  readonly unauthenticated: Counter;
  readonly leaderChanges: Counter;
  /** For the store writer: each commit's duration, each failure. */
  readonly commitObserver: CommitObserver = {
    committed: (seconds) => this.commits.observe(seconds),
    failed: () => this.commitErrors.inc(),
  };
  /** Whether this tracker leads (one SQLite tracker always does; several trackers will move it). */
  leader = true;
  readonly startedAt = Date.now();

  constructor() {
    const r = this.registry;
    r.gauge("fabric_build_info", "The running fabric's version, and Deno's; the value is always 1.", [
      "version",
      "deno",
    ], () => [{ labels: [FABRIC_VERSION, Deno.version.deno], metric: 1 }]);
    r.gauge(
      "fabric_tracker_leader",
      "1 when this tracker leads (places work and writes the store), else 0.",
      [],
      () => [
        { labels: [], metric: this.leader ? 1 : 0 },
      ],
    );
    this.leaderChanges = r.counter(
      "fabric_tracker_leader_changes_total",
      "Times this tracker became or stopped being the leader.",
    )
      .labels();
    this.jobsSubmitted = r.counter("fabric_jobs_submitted_total", "Jobs submitted.").labels();
    this.tasksSubmitted = r.counter("fabric_tasks_submitted_total", "Tasks of the jobs submitted.").labels();
    const jobs = r.counter("fabric_jobs_finished_total", "Jobs that ended, by outcome.", ["outcome"]);
    this.jobsFinished = {
      succeeded: jobs.labels("succeeded"),
      failed: jobs.labels("failed"),
      cancelled: jobs.labels("cancelled"),
    };
    const tasks = r.counter(
      "fabric_tasks_finished_total",
      "Tasks that ended, by outcome (skipped: a task it needs did not succeed).",
      ["outcome"],
    );
    this.tasksFinished = {
      succeeded: tasks.labels("succeeded"),
      failed: tasks.labels("failed"),
      cancelled: tasks.labels("cancelled"),
      skipped: tasks.labels("skipped"),
    };
    this.tasksRetried = r.counter("fabric_tasks_retried_total", "Failed attempts retried (the task's retries).")
      .labels();
    this.tasksLost = r.counter(
      "fabric_tasks_lost_total",
      "Attempts lost with their agent (silent, restarted, or it reported them lost).",
    ).labels();
    this.taskWait = r.histogram(
      "fabric_task_wait_seconds",
      "From a task's submit to the start of its first attempt.",
      TASK_SECONDS,
    ).labels();
    this.taskRun = r.histogram("fabric_task_run_seconds", "How long each finished attempt ran.", TASK_SECONDS)
      .labels();
    this.heartbeatsMissed = r.counter(
      "fabric_agent_heartbeats_missed_total",
      "Times an agent was marked down after missing its heartbeats past the TTL.",
    ).labels();
    this.logBytes = r.counter("fabric_log_bytes_stored_total", "Bytes of task output stored.").labels();
    this.logBytesDropped = r.counter(
      "fabric_log_bytes_dropped_total",
      "Bytes of task output dropped: their job had stored its --max-job-logs.",
    ).labels();
    this.commits = r.histogram(
      "fabric_store_commit_duration_seconds",
      "How long the store took to make a group commit durable.",
      COMMIT_SECONDS,
    ).labels();
    this.commitErrors = r.counter("fabric_store_commit_errors_total", "Group commits the store refused (retried).")
      .labels();
    this.jobsDeleted = r.counter(
      "fabric_retention_jobs_deleted_total",
      "Ended jobs deleted, with their tasks and logs, after their retention.",
    ).labels();
    this.auditEntries = r.counter(
      "fabric_audit_entries_total",
      "Changes asked for through the API or the dashboard, recorded in the audit trail (refused ones too).",
    ).labels();
    this.unauthenticated = r.counter(
      "fabric_unauthenticated_requests_total",
      "Requests refused for want of an accepted token (401): counted here, never recorded one by one.",
    ).labels();
  }
}
