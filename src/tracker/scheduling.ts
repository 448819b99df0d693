/**
 * When the planner runs, and its plan applied: a pass now (a report answers with the work its freed
 * slots got) or soon (once per turn of the event loop, however many changes asked for one).
 */
import type { AgentEntry, TaskEntry, TemplateEntry } from "./entries.ts";
import { plan } from "./planner.ts";

export interface SchedulingOptions {
  /** Templates with work in the order they are served, read at every pass. */
  templates: () => readonly TemplateEntry[];
  agents: () => Iterable<AgentEntry>;
  /** Randomness for `select: random`. */
  random: () => number;
  /** Place `task` on `agent` as its current attempt. */
  assign: (task: TaskEntry, agent: AgentEntry) => void;
}

export class Scheduling {
  #options: SchedulingOptions;
  #queued = false;
  #held = false;

  constructor(options: SchedulingOptions) {
    this.#options = options;
  }

  /**
   * No pass while held (a tracker loading its state in slices: an agent's placed tasks are not all
   * restored yet); a pass follows the release.
   */
  hold(held: boolean): void {
    this.#held = held;
    if (!held) this.soon();
  }

  /** Place what can be placed now. */
  now(): void {
    if (this.#held) return;
    const options = this.#options;
    const { placements, reasons } = plan({ templates: options.templates(), agents: options.agents() }, options.random);
    for (const [template, reason] of reasons) template.blockedReason = reason;
    for (const { task, agent } of placements) {
      task.template.ready.take(task);
      task.template.lastPicked = agent.record.name;
      options.assign(task, agent);
    }
  }

  /** A pass at the end of this turn. */
  soon(): void {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.now();
    });
  }
}
