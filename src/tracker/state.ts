/**
 * The tracker's working memory: the agents, and the jobs that have not ended with their templates
 * and tasks, indexed. It only holds them: the lifecycles (task_lifecycle.ts, agent_lifecycle.ts)
 * change what is in it, and the store writer makes each change durable.
 */
import type { AgentRecord, JobRecord, TaskRecord } from "../store/mod.ts";
import { type AgentEntry, type JobEntry, newJobEntry, type TaskEntry, type TemplateEntry } from "./entries.ts";
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

  /** A job from its records, indexed; throws (having indexed nothing) when the records do not make a job. */
  addJob(record: JobRecord, tasks: TaskRecord[]): JobEntry {
    const job = newJobEntry(record, tasks, this.#jobSeq++);
    for (const task of job.tasks) this.tasks.set(task.record.id, task);
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
