/**
 * The records changed since the last commit, each kept once however often it changed (the latest
 * state is what gets written): taken whole into a batch for the store writer, and put back under what
 * was marked meanwhile when that write fails.
 */
import { emptyBatch } from "../store/mod.ts";
import type {
  AgentRecord,
  AttemptRecord,
  AuditRecord,
  JobRecord,
  LogRow,
  SetAside,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "../store/mod.ts";

export class MarkedRecords {
  meta = new Map<string, string>();
  readonly agents = new Set<AgentRecord>();
  readonly jobs = new Set<JobRecord>();
  /** New jobs, written whole (insert) in the same commit as what is marked with them (their placement). */
  readonly newJobs = new Set<JobRecord>();
  readonly tasks = new Set<TaskRecord>();
  readonly attempts = new Set<AttemptRecord>();
  logs: LogRow[] = [];
  setAside: SetAside[] = [];
  readonly tokens = new Set<TokenRecord>();
  audit: AuditRecord[] = [];

  /** Everything marked, as one batch; nothing stays marked. */
  take(): WriteBatch {
    const batch = emptyBatch();
    batch.meta = this.meta;
    batch.agents = [...this.agents];
    batch.newJobs = [...this.newJobs];
    // A new job is inserted with every change made to it so far: never updated in the same batch.
    batch.jobs = [...this.jobs].filter((job) => !this.newJobs.has(job));
    batch.tasks = [...this.tasks];
    batch.attempts = [...this.attempts];
    batch.logs = this.logs;
    batch.setAside = this.setAside;
    batch.tokens = [...this.tokens];
    batch.audit = this.audit;
    this.meta = new Map();
    this.agents.clear();
    this.jobs.clear();
    this.newJobs.clear();
    this.tasks.clear();
    this.attempts.clear();
    this.logs = [];
    this.setAside = [];
    this.tokens.clear();
    this.audit = [];
    return batch;
  }

  /** A batch that failed, marked again for the next write: what was marked since is newer and wins. */
  restore(batch: WriteBatch): void {
    for (const [key, value] of batch.meta) if (!this.meta.has(key)) this.meta.set(key, value);
    for (const r of batch.agents) this.agents.add(r);
    for (const r of batch.jobs) this.jobs.add(r);
    for (const r of batch.newJobs) this.newJobs.add(r);
    for (const r of batch.tasks) this.tasks.add(r);
    for (const r of batch.attempts) this.attempts.add(r);
    for (const r of batch.tokens) this.tokens.add(r);
    this.logs = batch.logs.concat(this.logs);
    this.setAside = batch.setAside.concat(this.setAside);
    this.audit = batch.audit.concat(this.audit);
  }

  /** Nothing of these jobs (new ones the store refused) is marked any more: neither the job, its tasks nor their attempts. */
  drop(jobIds: ReadonlySet<string>): void {
    for (const r of this.newJobs) if (jobIds.has(r.id)) this.newJobs.delete(r);
    for (const r of this.jobs) if (jobIds.has(r.id)) this.jobs.delete(r);
    for (const r of this.tasks) if (jobIds.has(r.jobId)) this.tasks.delete(r);
    for (const r of this.attempts) if (jobIds.has(jobOfTask(r.taskId))) this.attempts.delete(r);
  }
}

/**
 * The new jobs of a failed `batch` that are `staged` (StoreWriter.stageJob): taken out of it and out
 * of what is `marked`, before the rest is marked again. Their ids.
 */
export function refuseJobs(batch: WriteBatch, marked: MarkedRecords, staged: ReadonlyMap<string, unknown>): string[] {
  const ids = batch.newJobs.filter((job) => staged.has(job.id)).map((job) => job.id);
  if (ids.length === 0) return ids;
  const refused = new Set(ids);
  dropJobs(batch, refused);
  marked.drop(refused);
  return ids;
}

function dropJobs(batch: WriteBatch, jobIds: ReadonlySet<string>): void {
  batch.newJobs = batch.newJobs.filter((r) => !jobIds.has(r.id));
  batch.jobs = batch.jobs.filter((r) => !jobIds.has(r.id));
  batch.tasks = batch.tasks.filter((r) => !jobIds.has(r.jobId));
  batch.attempts = batch.attempts.filter((r) => !jobIds.has(jobOfTask(r.taskId)));
}

/** A task id is its job's id, a dot and its ordinal (job ids hold no dot). */
function jobOfTask(taskId: string): string {
  const dot = taskId.indexOf(".");
  return dot < 0 ? taskId : taskId.slice(0, dot);
}
