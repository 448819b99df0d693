/**
 * One scheduling pass: templates in priority order, each placing its ready tasks until none fits.
 * A template that cannot place its next task records why and is passed over, so a blocked job costs
 * one check per pass, not one per queued task.
 */
import { formatSize } from "../protocol/mod.ts";
import { type Candidate, choose, eligibleAgents, fits, type PlacementNeeds } from "./placement.ts";
import type { AgentEntry, FabricState, TaskEntry, TemplateEntry } from "./state.ts";

interface LiveCandidate extends Candidate {
  agent: AgentEntry;
}

export function schedulePass(state: FabricState): void {
  // Most passes (a heartbeat's agent coming back, a report) find nothing waiting: they cost nothing.
  if (!state.templates.some((t) => t.ready.peek() !== undefined)) return;
  const candidates: LiveCandidate[] = [];
  for (const agent of state.agents.values()) {
    if (agent.record.state !== "ready") continue;
    const r = agent.record;
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
      draining: agent.record.draining,
      agent,
    });
  }
  // Room counts queue places too (short tasks may be held ahead); fits() decides per template.
  let freeSlots = candidates.reduce(
    (n, c) => n + (c.draining ? 0 : Math.max(0, c.slots * MAX_PREFETCH_DEPTH - c.used)),
    0,
  );
  for (const template of state.templates) {
    if (template.ready.peek() === undefined) continue;
    if (freeSlots === 0) {
      template.blockedReason = candidates.length === 0 ? "no agent is ready" : "every ready agent is busy";
      continue;
    }
    freeSlots -= template.effective.select === "all"
      ? placePinned(state, template, candidates)
      : placeInOrder(state, template, candidates);
  }
}

/**
 * Tasks an agent may hold per slot when they are short: the next starts the moment a slot frees.
 * Tasks of a few milliseconds get enough to cover HELD_WORK_MS each slot, more than the time a
 * report (which frees the agent's places and brings the next tasks) lingers and takes to come back:
 * with less, a slot waited for work at one start in four (B1, 2,000 `true` tasks: 4 per slot ran
 * 10-18% slower than 8 in alternating runs). An agent that goes idle elsewhere waits at most about
 * that long for work held here.
 */
const PREFETCH_DEPTH = 2;
const MAX_PREFETCH_DEPTH = 16;
const HELD_WORK_MS = 20;
/** Below this average runtime (and after a few runs), a template's tasks are short... */
const SHORT_TASK_MS = 100;
/** ...and below this one, very short. */
const VERY_SHORT_TASK_MS = 10;

function needsOf(template: TemplateEntry, pinnedAgent: string | null): PlacementNeeds {
  const signedBy = template.job.record.signed?.publicKey ?? null;
  return { ...template.effective, pinnedAgent, depth: depthOf(template), signedBy };
}

function depthOf(template: TemplateEntry): number {
  if (!prefetches(template)) return 1;
  const runtime = template.runtimeEma ?? Infinity;
  if (runtime >= VERY_SHORT_TASK_MS) return PREFETCH_DEPTH;
  return Math.min(MAX_PREFETCH_DEPTH, Math.max(PREFETCH_DEPTH, Math.ceil(HELD_WORK_MS / Math.max(runtime, 0.1))));
}

/**
 * Whether an agent may hold more of this template's tasks than it has slots. Only for short tasks
 * (a long one would keep the next waiting on a busy agent while others idle), and only without
 * resources or concurrency limits, which count what an agent holds.
 */
function prefetches(template: TemplateEntry): boolean {
  const e = template.effective;
  const r = e.resources;
  return template.runs >= 4 && (template.runtimeEma ?? Infinity) < SHORT_TASK_MS && r.cpu === 0 &&
    r.memory === 0 && r.disk === 0 && e.concurrency === null && template.job.record.spec.concurrency === undefined &&
    e.select !== "all";
}

/** Why the template cannot run another task now because of concurrency limits, or null. */
function concurrencyLimit(template: TemplateEntry): string | null {
  const jobLimit = template.job.record.spec.concurrency;
  if (jobLimit !== undefined && template.job.active >= jobLimit) {
    return `the job runs at most ${jobLimit} task(s) at once`;
  }
  const limit = template.effective.concurrency;
  if (limit !== null && template.active >= limit) return `"${template.name}" runs at most ${limit} at once`;
  return null;
}

/** Head first: the template's tasks are alike, so the first that does not fit ends the template's turn. */
function placeInOrder(state: FabricState, template: TemplateEntry, candidates: LiveCandidate[]): number {
  const needs = needsOf(template, null);
  const eligible = eligibleAgents(candidates, needs);
  if (eligible.reason !== null) {
    template.blockedReason = eligible.reason;
    return 0;
  }
  let placed = 0;
  for (let task = template.ready.peek(); task; task = template.ready.peek()) {
    const limit = concurrencyLimit(template);
    if (limit !== null) {
      template.blockedReason = limit;
      return placed;
    }
    const picked = pick(state, template, needs, eligible.agents);
    if (!picked) {
      template.blockedReason = busyReason(template, eligible.agents.length);
      return placed;
    }
    template.ready.shift();
    place(state, task, picked);
    placed++;
  }
  template.blockedReason = null;
  return placed;
}

/** `select: all` copies each name their agent: each is tried on its own. */
function placePinned(state: FabricState, template: TemplateEntry, candidates: LiveCandidate[]): number {
  let placed = 0;
  let reason: string | null = null;
  for (const task of [...template.ready.waitingTasks()]) {
    const limit = concurrencyLimit(template);
    if (limit !== null) {
      template.blockedReason = limit;
      return placed;
    }
    const needs = needsOf(template, task.record.pinnedAgent);
    const eligible = eligibleAgents(candidates, needs);
    const picked = eligible.reason === null ? pick(state, template, needs, eligible.agents) : null;
    if (!picked) {
      reason ??= eligible.reason ?? busyReason(template, eligible.agents.length);
      continue;
    }
    template.ready.remove(task);
    place(state, task, picked);
    placed++;
  }
  template.blockedReason = reason;
  return placed;
}

function pick(
  state: FabricState,
  template: TemplateEntry,
  needs: PlacementNeeds,
  eligible: LiveCandidate[],
): LiveCandidate | null {
  const fitting = eligible.filter((c) => fits(c, needs.resources, needs.depth));
  return choose(fitting, needs, { random: state.random, lastPicked: template.lastPicked });
}

function place(state: FabricState, task: TaskEntry, picked: LiveCandidate): void {
  const r = task.template.effective.resources;
  picked.used++;
  picked.allocated.cpu += r.cpu;
  picked.allocated.memory += r.memory;
  picked.allocated.disk += r.disk;
  task.template.lastPicked = picked.name;
  state.assign(task, picked.agent);
}

function busyReason(template: TemplateEntry, eligible: number): string {
  const r = template.effective.resources;
  const wants = [
    r.cpu > 0 ? `${r.cpu} CPU` : "",
    r.memory > 0 ? `${formatSize(r.memory)} memory` : "",
    r.disk > 0 ? `${formatSize(r.disk)} disk` : "",
  ].filter(Boolean);
  const what = wants.length > 0 ? `a free slot with ${wants.join(", ")}` : "a free slot";
  return `waiting for ${what} on ${eligible} eligible agent(s)`;
}
