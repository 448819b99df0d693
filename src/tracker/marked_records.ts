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
    batch.jobs = [...this.jobs];
    batch.tasks = [...this.tasks];
    batch.attempts = [...this.attempts];
    batch.logs = this.logs;
    batch.setAside = this.setAside;
    batch.tokens = [...this.tokens];
    batch.audit = this.audit;
    this.meta = new Map();
    this.agents.clear();
    this.jobs.clear();
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
    for (const r of batch.tasks) this.tasks.add(r);
    for (const r of batch.attempts) this.attempts.add(r);
    for (const r of batch.tokens) this.tokens.add(r);
    this.logs = batch.logs.concat(this.logs);
    this.setAside = batch.setAside.concat(this.setAside);
    this.audit = batch.audit.concat(this.audit);
  }
}
