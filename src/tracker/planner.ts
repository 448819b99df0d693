/**
 * The scheduler as a planner: it reads templates with ready tasks and the agents, and returns where
 * tasks go, without changing either (the caller applies the plan). Templates are served in the order
 * given, each placing its ready tasks until none fits; a template that cannot place its next task gets
 * a reason and is passed over, so a blocked job costs one check per pass, not one per queued task.
 * Pure, like placement.ts: no clock, no I/O, randomness passed in.
 */
import { type AgentResources, type EffectiveTask, formatSize } from "../protocol/mod.ts";
import type { AgentRecord } from "../store/mod.ts";
import { type Candidate, choose, eligibleAgents, fits, type PlacementNeeds, takesWork } from "./placement.ts";
import { MAX_PREFETCH_DEPTH, prefetchDepth } from "./prefetch.ts";

/** What the planner reads of an agent (an AgentEntry is one). */
export interface PlanAgent {
  record: Pick<
    AgentRecord,
    | "id"
    | "name"
    | "labels"
    | "os"
    | "arch"
    | "slots"
    | "weight"
    | "load"
    | "capabilities"
    | "resources"
    | "draining"
    | "state"
    | "admission"
  >;
  /** Tasks placed on the agent that have not ended. */
  tasks: { readonly size: number };
  /** What those tasks asked for. */
  allocated: AgentResources;
}

/** What the planner reads of a task: a `select: all` copy names its agent. */
export interface PlanTask {
  record: { pinnedAgent: string | null };
}

/** The ready tasks of a template, in the order they are served. */
export interface ReadyTasks<T extends PlanTask> {
  peek(): T | undefined;
  waitingTasks(): Iterable<T>;
}

/** What the planner reads of a task template (a TemplateEntry is one). */
export interface PlanTemplate<T extends PlanTask = PlanTask> {
  name: string;
  effective: Pick<
    EffectiveTask,
    | "kind"
    | "uses"
    | "sandbox"
    | "constraints"
    | "agents"
    | "exclude"
    | "resources"
    | "select"
    | "strategy"
    | "concurrency"
  >;
  job: {
    active: number;
    record: { spec: { concurrency?: number }; signed: { publicKey: string } | null; cancelRequested: boolean };
  };
  /** Its tasks placed on agents (assigned or running). */
  active: number;
  runtimeEma: number | null;
  runs: number;
  /** The agent its last task went to (round_robin). */
  lastPicked: string | null;
  ready: ReadyTasks<T>;
}

export interface PlanView<TT extends PlanTemplate, A extends PlanAgent> {
  /** Templates in the order they are served: priority, then job age, then file order. */
  templates: readonly TT[];
  agents: Iterable<A>;
}

type TaskOf<TT> = TT extends { ready: ReadyTasks<infer T> } ? T : never;

export interface Plan<TT extends PlanTemplate, A extends PlanAgent> {
  /** In the order they were decided: a template's tasks in queue order. */
  placements: Array<{ task: TaskOf<TT>; agent: A }>;
  /** Why each template with ready tasks keeps some waiting (null: it placed all it had). */
  reasons: Map<TT, string | null>;
}

/** A placement candidate for each ready agent, with the agent it stands for. */
export interface AgentCandidate<A extends PlanAgent> extends Candidate {
  agent: A;
}

/** The candidates placement looks at: the agents that are up (draining ones too: placement says why they are not used). */
export function readyCandidates<A extends PlanAgent>(agents: Iterable<A>): AgentCandidate<A>[] {
  const candidates: AgentCandidate<A>[] = [];
  for (const agent of agents) {
    const r = agent.record;
    if (!takesWork(r)) continue;
    candidates.push({
      id: r.id,
      name: r.name,
      labels: r.labels,
      os: r.os,
      arch: r.arch,
      slots: r.slots,
      used: agent.tasks.size,
      weight: r.weight,
      load1: r.load?.load1 ?? 0,
      capabilities: r.capabilities,
      resources: r.resources,
      allocated: { ...agent.allocated },
      draining: r.draining,
      agent,
    });
  }
  return candidates;
}

/** One scheduling pass over `view`; `random` for `select: random`. */
export function plan<TT extends PlanTemplate, A extends PlanAgent>(
  view: PlanView<TT, A>,
  random: () => number,
): Plan<TT, A> {
  const result: Plan<TT, A> = { placements: [], reasons: new Map() };
  // Most passes (a heartbeat's agent coming back, a report) find nothing waiting: they cost nothing.
  if (!view.templates.some((t) => t.ready.peek() !== undefined)) return result;
  // The candidates are this pass's own copies: placing a task counts it on its agent here only.
  const pass = new Pass<A>(readyCandidates(view.agents), random);
  for (const template of view.templates) {
    if (template.ready.peek() === undefined) continue;
    // A cancel in slices has not reached all of its job's tasks yet: none of them starts meanwhile.
    if (template.job.record.cancelRequested) {
      result.reasons.set(template, "the job is being cancelled");
      continue;
    }
    if (pass.freeSlots === 0) {
      result.reasons.set(template, pass.candidates.length === 0 ? "no agent is ready" : "every ready agent is busy");
      continue;
    }
    const into = result.placements as Placements<A>;
    const reason = template.effective.select === "all"
      ? pass.placePinned(template, into)
      : pass.placeInOrder(template, into);
    result.reasons.set(template, reason);
  }
  return result;
}

/** The plan's placements as the pass adds them (each task is one of the template's own). */
type Placements<A> = Array<{ task: PlanTask; agent: A }>;

/** The working copies of one pass: what each agent holds with this pass's placements counted. */
class Pass<A extends PlanAgent> {
  readonly candidates: AgentCandidate<A>[];
  /** Room for more work: queue places count too (short tasks may be held ahead); fits() decides per template. */
  freeSlots: number;
  #random: () => number;
  /** Tasks placed in this pass, per job (a job's concurrency counts every template of it). */
  #jobPlaced = new Map<PlanTemplate["job"], number>();

  constructor(candidates: AgentCandidate<A>[], random: () => number) {
    this.candidates = candidates;
    this.#random = random;
    this.freeSlots = candidates.reduce(
      (n, c) => n + (c.draining ? 0 : Math.max(0, c.slots * MAX_PREFETCH_DEPTH - c.used)),
      0,
    );
  }

  /**
   * Head first: the template's tasks are alike, so the first that does not fit ends the template's
   * turn. Adds to `placements`; returns why the rest waits (null: nothing does).
   */
  placeInOrder(template: PlanTemplate, placements: Placements<A>): string | null {
    const needs = needsOf(template, null);
    const eligible = eligibleAgents(this.candidates, needs);
    if (eligible.reason !== null) return eligible.reason;
    let lastPicked = template.lastPicked;
    let placed = 0;
    for (const task of template.ready.waitingTasks()) {
      const limit = this.#concurrencyLimit(template, placed);
      if (limit !== null) return limit;
      const picked = this.#pick(needs, eligible.agents, lastPicked);
      if (!picked) return busyReason(template, eligible.agents.length);
      this.#place(template, picked);
      lastPicked = picked.name;
      placements.push({ task, agent: picked.agent });
      placed++;
    }
    return null;
  }

  /** `select: all` copies each name their agent: each is tried on its own. */
  placePinned(template: PlanTemplate, placements: Placements<A>): string | null {
    let reason: string | null = null;
    let lastPicked = template.lastPicked;
    let placed = 0;
    for (const task of template.ready.waitingTasks()) {
      const limit = this.#concurrencyLimit(template, placed);
      if (limit !== null) return limit;
      const needs = needsOf(template, task.record.pinnedAgent);
      const eligible = eligibleAgents(this.candidates, needs);
      const picked = eligible.reason === null ? this.#pick(needs, eligible.agents, lastPicked) : null;
      if (!picked) {
        reason ??= eligible.reason ?? busyReason(template, eligible.agents.length);
        continue;
      }
      this.#place(template, picked);
      lastPicked = picked.name;
      placements.push({ task, agent: picked.agent });
      placed++;
    }
    return reason;
  }

  /** Why the template cannot run another task now because of concurrency limits, or null. */
  #concurrencyLimit(template: PlanTemplate, placedHere: number): string | null {
    const jobLimit = template.job.record.spec.concurrency;
    if (jobLimit !== undefined && template.job.active + (this.#jobPlaced.get(template.job) ?? 0) >= jobLimit) {
      return `the job runs at most ${jobLimit} task(s) at once`;
    }
    const limit = template.effective.concurrency;
    if (limit !== null && template.active + placedHere >= limit) {
      return `"${template.name}" runs at most ${limit} at once`;
    }
    return null;
  }

  #pick(needs: PlacementNeeds, eligible: AgentCandidate<A>[], lastPicked: string | null): AgentCandidate<A> | null {
    const fitting = eligible.filter((c) => fits(c, needs.resources, needs.depth));
    return choose(fitting, needs, { random: this.#random, lastPicked });
  }

  #place(template: PlanTemplate, picked: AgentCandidate<A>): void {
    const r = template.effective.resources;
    picked.used++;
    picked.allocated.cpu += r.cpu;
    picked.allocated.memory += r.memory;
    picked.allocated.disk += r.disk;
    this.#jobPlaced.set(template.job, (this.#jobPlaced.get(template.job) ?? 0) + 1);
    this.freeSlots--;
  }
}

function needsOf(template: PlanTemplate, pinnedAgent: string | null): PlacementNeeds {
  const signedBy = template.job.record.signed?.publicKey ?? null;
  return { ...template.effective, pinnedAgent, depth: prefetchDepth(template), signedBy };
}

function busyReason(template: PlanTemplate, eligible: number): string {
  const r = template.effective.resources;
  const wants = [
    r.cpu > 0 ? `${r.cpu} CPU` : "",
    r.memory > 0 ? `${formatSize(r.memory)} memory` : "",
    r.disk > 0 ? `${formatSize(r.disk)} disk` : "",
  ].filter(Boolean);
  const what = wants.length > 0 ? `a free slot with ${wants.join(", ")}` : "a free slot";
  return `waiting for ${what} on ${eligible} eligible agent(s)`;
}
