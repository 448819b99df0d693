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
  /** The tasks of the jobs above, by id. */
  readonly tasks = new TaskIndex(this.jobs);
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
   * one step at the end (its tasks are found by id through `jobs` too). `prepare` runs on it before
   * that (a new job's tasks queued in its templates: the scheduler reaches those through `templates` only).
   */
  async addJob(
    record: JobRecord,
    tasks: TaskRecord[],
    prepare?: (job: JobEntry, slices: Slices) => Promise<void>,
  ): Promise<JobEntry> {
    const slices = new Slices();
    const job = await newJobEntry(record, tasks, this.#jobSeq++, slices);
    await prepare?.(job, slices);
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
    return true;
  }
}

/**
 * The decimal digits of `id` from `from` as a number, read in place (no slice and Number for every
 * lookup: a report's every event looks its task up a few times); -1 when there are none or another
 * character. The caller checks the task found has `id`, so only an index is decided here.
 */
function ordinalOf(id: string, from: number): number {
  if (from >= id.length) return -1;
  let n = 0;
  for (let i = from; i < id.length; i++) {
    const digit = id.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/**
 * The tasks in memory by id, found through their job: an id is `JOB.ORD` and a job's entry holds its
 * tasks in the order of `ord` (newJobEntry), so a task is one lookup of its job and an index. Not a map
 * of its own: a million queued tasks' entries in one cost ~50 MB more at the leader (issue #17), and
 * adding or dropping a large job cost a pass over its tasks. A job whose rows break the rule (none that
 * fabric makes) has a map of its own (JobEntry.byId).
 */
export class TaskIndex {
  #jobs: ReadonlyMap<string, JobEntry>;

  constructor(jobs: ReadonlyMap<string, JobEntry>) {
    this.#jobs = jobs;
  }

  get(id: string): TaskEntry | undefined {
    const dot = id.lastIndexOf(".");
    const job = dot < 0 ? undefined : this.#jobs.get(id.slice(0, dot));
    if (!job) return undefined;
    if (job.byId) return job.byId.get(id);
    const task = job.tasks[ordinalOf(id, dot + 1)];
    return task?.record.id === id ? task : undefined;
  }

  /** Every task of every job in memory. */
  *values(): Generator<TaskEntry> {
    for (const job of this.#jobs.values()) yield* job.tasks;
  }
}
