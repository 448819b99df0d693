/** The tracker's in-memory records: what FabricState keeps per job, task template, task and agent. */
import {
  type AgentResources,
  type ArtifactRef,
  type EffectiveTask,
  effectiveTask,
  isTerminalTask,
  type NeedWhen,
  type TaskResult,
  type TaskSpec,
} from "../protocol/mod.ts";
import type { AgentRecord, AttemptRecord, JobRecord, LogRow, TaskRecord } from "../store/mod.ts";
import { Slices } from "./slices.ts";
import { TaskQueue } from "./task_queue.ts";
import { Wakeup } from "./wakeup.ts";

export interface JobEntry {
  record: JobRecord;
  /** Arrival order, for FIFO among jobs created in the same millisecond. */
  seq: number;
  tasks: TaskEntry[];
  templates: Map<string, TemplateEntry>;
  changed: Wakeup;
  /** Tasks placed on agents (assigned or running). */
  active: number;
  /** Bytes of its tasks' output stored (--max-job-logs counts them). */
  logBytes: number;
  /**
   * Its tasks by id, only when some task's id is not `JOB.ORD` at its position in `tasks` (TaskIndex
   * finds the others by position); null for every job fabric makes.
   */
  byId: Map<string, TaskEntry> | null;
  /** Its tasks whose output is dropped past the cap, with the attempt whose output was cut; null until one is. */
  logsCut: Map<TaskEntry, number> | null;
}

/** One task of the job file, with its concrete copies and what they wait for. */
export interface TemplateEntry {
  job: JobEntry;
  name: string;
  /** Position in the job file. */
  order: number;
  spec: TaskSpec;
  effective: EffectiveTask;
  instances: TaskEntry[];
  ready: TaskQueue<TaskEntry>;
  active: number;
  succeeded: number;
  /** Its tasks that have ended (succeeded, failed, cancelled, skipped). */
  ended: number;
  /** Templates this one needs whose condition (`when`) is not met yet. */
  waitingOn: Set<TemplateEntry>;
  /** The condition of each template it needs (protocol/needs.ts). */
  needWhen: Map<TemplateEntry, NeedWhen>;
  dependents: TemplateEntry[];
  /** Why its next task could not be placed in the last scheduling pass. */
  blockedReason: string | null;
  /** The agent its last task went to (round_robin). */
  lastPicked: string | null;
  /** How long its tasks run (moving average, ms) over `runs` finished attempts: short ones are prefetched. */
  runtimeEma: number | null;
  runs: number;
}

export interface TaskEntry {
  record: TaskRecord;
  job: JobEntry;
  template: TemplateEntry;
  /** The current attempt while the task is placed on an agent. */
  attempt: AttemptRecord | null;
  /**
   * The artifacts its last ended attempt kept, when a task that needs it asks for them (`needs:
   * [{task, artifacts: true}]`): set when it ends, and read from the store when its job is loaded.
   */
  artifacts: ArtifactRef[] | null;
  /** Set by cancel while the agent stops the process. */
  stopRequested: boolean;
  /** Created on first use: most tasks are never followed. */
  changed: Wakeup | null;
  /** When the current attempt was last sent to its agent (not stored: after a restart, send again). */
  deliveredAt: number | null;
  /**
   * The latest committed output of one attempt, kept while someone follows the task, so that
   * followers read it from here and not back from the store (see RecentLogs).
   */
  recentLogs: RecentLogs | null;
}

/** A bounded tail of committed log rows of one attempt, contiguous in seq. */
export interface RecentLogs {
  attempt: number;
  rows: LogRow[];
  chars: number;
}

/** How much output a followed task keeps in memory. */
export const RECENT_LOG_CHARS = 8 * 1024 * 1024;

/** Adds committed rows (in commit order) to the tail, starting over for a new attempt, dropping the oldest past the bound. */
export function keepRecentLogs(task: TaskEntry, rows: LogRow[]): void {
  const recent = task.recentLogs;
  if (!recent || rows.length === 0) return;
  for (const row of rows) {
    if (row.attempt !== recent.attempt || (recent.rows.length > 0 && row.seq !== recent.rows.at(-1)!.seq + 1)) {
      // Another attempt, or a gap (rows come in seq order, so only after a restart): start afresh.
      recent.attempt = row.attempt;
      recent.rows = [];
      recent.chars = 0;
    }
    recent.rows.push(row);
    recent.chars += row.data.length;
  }
  let drop = 0;
  while (recent.chars > RECENT_LOG_CHARS && drop < recent.rows.length - 1) {
    recent.chars -= recent.rows[drop++].data.length;
  }
  if (drop > 0) recent.rows = recent.rows.slice(drop);
}

/** The kept rows after `afterSeq` of `attempt`, or null when the tail does not reach back that far. */
export function recentLogsAfter(task: TaskEntry, attempt: number, afterSeq: number): LogRow[] | null {
  const recent = task.recentLogs;
  if (!recent || recent.attempt !== attempt || recent.rows.length === 0) return null;
  const first = recent.rows[0].seq;
  if (afterSeq + 1 < first) return null;
  return recent.rows.slice(afterSeq + 1 - first);
}

export interface AgentEntry {
  record: AgentRecord;
  /** Clock time of the agent's last request. */
  lastSeen: number;
  /** When `lastHeartbeat` was last written to the store. */
  persistedAt: number;
  /** Tasks placed on the agent that have not ended (assigned or running). */
  tasks: Set<TaskEntry>;
  /** What those tasks asked for. */
  allocated: AgentResources;
  claim: Wakeup;
  claimGeneration: number;
  /** Stop orders sent and still wanted, by attempt key: when each was last sent. */
  stopsSent: Map<string, number>;
}

export interface FinishReport {
  result: TaskResult;
  durationMs: number;
  at: number;
  output?: string;
  outputTruncated?: boolean;
  outputError?: string;
}

/**
 * A job's entries from its records: a template per task of the job file, wired to the templates it
 * needs (minus those already succeeded), and an entry per task. Made in slices (slices.ts): safe, as
 * the entry is reachable from nothing else until it is whole (FabricState.addJob indexes it after).
 */
export async function newJobEntry(
  record: JobRecord,
  tasks: TaskRecord[],
  seq: number,
  slices = new Slices(),
): Promise<JobEntry> {
  const job: JobEntry = {
    record,
    seq,
    tasks: [],
    templates: new Map(),
    changed: new Wakeup(),
    active: 0,
    logBytes: 0,
    logsCut: null,
    byId: null,
  };
  record.spec.tasks.forEach((spec, order) => {
    job.templates.set(spec.name, {
      job,
      name: spec.name,
      order,
      spec,
      effective: effectiveTask(record.spec, spec),
      instances: [],
      ready: new TaskQueue(),
      active: 0,
      succeeded: 0,
      ended: 0,
      waitingOn: new Set(),
      needWhen: new Map(),
      dependents: [],
      blockedReason: null,
      lastPicked: null,
      runtimeEma: null,
      runs: 0,
    });
  });
  for (const template of job.templates.values()) {
    for (const rule of template.effective.needRules) {
      const needed = job.templates.get(rule.task);
      if (!needed) throw new Error(`task "${template.name}" needs "${rule.task}", which the job does not have`);
      needed.dependents.push(template);
      template.waitingOn.add(needed);
      template.needWhen.set(needed, rule.when);
    }
  }
  job.tasks = new Array(tasks.length);
  let ord = 0;
  for (const taskRecord of tasks) {
    if (slices.due()) await slices.next();
    const template = job.templates.get(taskRecord.template);
    if (!template) {
      throw new Error(`task ${taskRecord.id} is a copy of "${taskRecord.template}", which the job does not have`);
    }
    const entry: TaskEntry = {
      record: taskRecord,
      job,
      template,
      attempt: null,
      stopRequested: false,
      changed: null,
      deliveredAt: null,
      recentLogs: null,
      artifacts: null,
    };
    if (!job.byId && taskRecord.id !== `${record.id}.${ord}`) {
      job.byId = new Map(job.tasks.map((t) => [t.record.id, t]));
    }
    job.byId?.set(taskRecord.id, entry);
    job.tasks[ord++] = entry;
    template.instances.push(entry);
    if (taskRecord.state === "succeeded") template.succeeded++;
    if (isTerminalTask(taskRecord.state)) template.ended++;
  }
  for (const template of job.templates.values()) {
    for (const needed of [...template.waitingOn]) {
      // As dependencies.ts decides it: on success once every copy succeeded, else once every copy ended.
      const when = template.needWhen.get(needed);
      const met = when === "on_success" ? needed.succeeded : needed.ended;
      if (met === needed.instances.length) template.waitingOn.delete(needed);
    }
  }
  return job;
}
