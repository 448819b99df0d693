/**
 * The tracker's working memory: the agents, and the jobs that have not ended with their templates
 * and tasks, indexed. It only holds them: the lifecycles (task_lifecycle.ts, agent_lifecycle.ts)
 * change what is in it, and the store writer makes each change durable.
 */
import type { AgentRecord, JobRecord, TaskRecord } from "../store/mod.ts";
import { type AgentEntry, type JobEntry, newJobEntry, type TaskEntry, type TemplateEntry } from "./entries.ts";
import { Slices } from "./slices.ts";
import { Wakeup } from "./wakeup.ts";

export class FabricState {
  readonly agents = new Map<string, AgentEntry>();
  readonly agentsByName = new Map<string, AgentEntry>();
  readonly jobs = new Map<string, JobEntry>();
  readonly tasks = new Map<string, TaskEntry>();
  /** Templates with work, in the order they are served: priority, then job age, then file order. */
  templates: TemplateEntry[] = [];
  #jobSeq = 0;

  addAgent(record: AgentRecord, now: number): AgentEntry {
    const entry: AgentEntry = {
      record,
      lastSeen: now,
      persistedAt: now,
      tasks: new Set(),
      allocated: { cpu: 0, memory: 0, disk: 0 },
      claim: new Wakeup(),
      claimGeneration: 0,
      stopsSent: new Map(),
    };
    this.agents.set(record.id, entry);
    this.agentsByName.set(record.name, entry);
    return entry;
  }

  /**
   * A job from its records, indexed; throws (having indexed nothing) when the records do not make a job.
   * Made in slices (slices.ts), and visible (to claims, the scheduler, reads of active jobs) only once
   * whole: its entries are reachable from nothing but this call until `jobs` and `templates` get it, in
   * one step at the end. `prepare` runs on it before that (a new job's tasks queued in its templates:
   * the scheduler reaches those through `templates` only). Its tasks are indexed by id before it is
   * visible, in slices: one found by id meanwhile is a task of a stored job, still queued, as it is.
   */
  async addJob(
    record: JobRecord,
    tasks: TaskRecord[],
    prepare?: (job: JobEntry, slices: Slices) => Promise<void>,
  ): Promise<JobEntry> {
    const slices = new Slices();
    const job = await newJobEntry(record, tasks, this.#jobSeq++, slices);
    await prepare?.(job, slices);
    for (const task of job.tasks) {
      this.tasks.set(task.record.id, task);
      if (slices.due()) await slices.next();
    }
    this.jobs.set(record.id, job);
    for (const template of job.templates.values()) this.templates.push(template);
    this.templates.sort((a, b) =>
      b.effective.priority - a.effective.priority || a.job.record.createdAt - b.job.record.createdAt ||
      a.job.seq - b.job.seq || a.order - b.order
    );
    return job;
  }

  /** Drop an ended job; false when it is not the one indexed (it was dropped already). */
  removeJob(job: JobEntry): boolean {
    if (this.jobs.get(job.record.id) !== job) return false;
    this.jobs.delete(job.record.id);
    this.templates = this.templates.filter((t) => t.job !== job);
    for (const task of job.tasks) this.tasks.delete(task.record.id);
    return true;
  }
}
