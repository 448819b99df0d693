/**
 * Where a task goes. Pure functions over plain values: no clock, no I/O, and randomness only
 * through the `random` passed in, so every rule is testable without a running tracker.
 */
import {
  addonKey,
  type AgentResources,
  type Capabilities,
  compilePattern,
  type Constraint,
  type EffectiveTask,
  keyName,
  KIND_NEEDS,
  type Pattern,
  patternFinds,
  type ToolCapability,
} from "../protocol/mod.ts";

/** What placement needs to know about an agent. */
/** Whether an agent may be given work at all: up, and not waiting for approval (`--approve-agents`). */
export function takesWork(agent: { state: string; admission: string }): boolean {
  return agent.state === "ready" && agent.admission === "approved";
}

export interface Candidate {
  id: string;
  name: string;
  labels: Record<string, string>;
  os: string;
  arch: string;
  slots: number;
  /** Tasks placed on the agent that have not ended. */
  used: number;
  weight: number;
  /** One-minute load average the agent last reported. */
  load1: number;
  capabilities: Capabilities;
  resources: AgentResources;
  allocated: AgentResources;
  /** Draining agents take no new work. */
  draining: boolean;
}

/** The parts of a task's settings placement looks at. */
export type PlacementNeeds =
  & Pick<
    EffectiveTask,
    "kind" | "uses" | "sandbox" | "constraints" | "agents" | "exclude" | "resources" | "select" | "strategy"
  >
  & {
    pinnedAgent: string | null;
    /** Tasks an agent may hold per slot: 1, or 2 for short tasks it queues and starts as slots free. */
    depth?: number;
    /** The public key that signed the task's job, or null: agents with `--verify-key` take only theirs. */
    signedBy: string | null;
  };

/** The value of a label for a constraint: the agent's labels, plus fabric.name, fabric.os, fabric.arch. */
export function labelValue(agent: Candidate, label: string): string | undefined {
  switch (label) {
    case "fabric.name":
      return agent.name;
    case "fabric.os":
      return agent.os;
    case "fabric.arch":
      return agent.arch;
    default:
      return Object.hasOwn(agent.labels, label) ? agent.labels[label] : undefined;
  }
}

export function matchesConstraint(agent: Candidate, c: Constraint): boolean {
  const value = labelValue(agent, c.label);
  if (c.exists !== undefined) return (value !== undefined) === c.exists;
  if (c.notEquals !== undefined) return value !== c.notEquals;
  if (value === undefined) return false;
  if (c.equals !== undefined) return value === c.equals;
  if (c.in !== undefined) return c.in.includes(value);
  if (c.matches !== undefined) return matchesPattern(c.matches, value);
  return false;
}

/**
 * Compiled patterns and their answers by label value: a pattern is compiled once, and each value is
 * matched once, however many tasks and rounds ask. Bounded: past the cap the memo starts over.
 */
const patterns = new Map<string, { pattern: Pattern | null; answers: Map<string, boolean> }>();
const MAX_PATTERNS = 256;
const MAX_ANSWERS = 4096;

/** Linear in the value's length (RE2: see protocol/pattern.ts). A pattern it cannot compile matches nothing. */
function matchesPattern(source: string, value: string): boolean {
  let entry = patterns.get(source);
  if (entry === undefined) {
    if (patterns.size >= MAX_PATTERNS) patterns.clear();
    let pattern: Pattern | null = null;
    try {
      pattern = compilePattern(source);
    } catch {
      // A job stored before patterns were RE2 (validation refuses such a pattern now).
    }
    entry = { pattern, answers: new Map() };
    patterns.set(source, entry);
  }
  let answer = entry.answers.get(value);
  if (answer === undefined) {
    answer = entry.pattern !== null && patternFinds(entry.pattern, value);
    if (entry.answers.size >= MAX_ANSWERS) entry.answers.clear();
    entry.answers.set(value, answer);
  }
  return answer;
}

export function describeConstraint(c: Constraint): string {
  if (c.exists !== undefined) return `${c.label} ${c.exists ? "exists" : "does not exist"}`;
  if (c.equals !== undefined) return `${c.label} == ${c.equals}`;
  if (c.notEquals !== undefined) return `${c.label} != ${c.notEquals}`;
  if (c.in !== undefined) return `${c.label} in (${c.in.join(", ")})`;
  return `${c.label} =~ /${c.matches}/`;
}

interface Filter {
  keep: (agent: Candidate) => boolean;
  /** Why a task waits when this filter leaves no agent. */
  reason: string;
  /** The capability it asks for, when that is what it checks. */
  lacks?: ToolCapability;
  /** What would let a task through, when `lacks` does not say it. */
  hint?: string;
}

/** The rules that do not change while an agent is busy: capabilities, pins, constraints. */
function staticFilters(needs: PlacementNeeds): Filter[] {
  const filters: Filter[] = [];
  if (needs.pinnedAgent !== null) {
    const pinned = needs.pinnedAgent;
    filters.push({ keep: (a) => a.name === pinned, reason: `it runs on agent "${pinned}", which is not ready` });
  }
  if (needs.agents !== null) {
    const pins = needs.agents;
    filters.push({ keep: (a) => pins.includes(a.name), reason: `no ready agent among its agents: ${pins.join(", ")}` });
  }
  if (needs.exclude.length > 0) {
    const excluded = needs.exclude;
    filters.push({
      keep: (a) => !excluded.includes(a.name),
      reason: `every ready agent is excluded (${excluded.join(", ")})`,
    });
  }
  const kindNeeds = KIND_NEEDS[needs.kind];
  if (kindNeeds) {
    filters.push({
      keep: (a) => a.capabilities[kindNeeds.capability],
      reason: kindNeeds.missing,
      lacks: kindNeeds.capability,
    });
  }
  if (needs.uses !== null) {
    const uses = needs.uses;
    filters.push({
      keep: (a) => a.capabilities.addons?.some((addon) => addonKey(addon) === uses) ?? false,
      reason: `no agent has add-on ${uses}`,
      hint: `put the add-on's folder in an agent's add-ons folder (fabric agent --addons DIR), then restart it`,
    });
  }
  if (needs.sandbox) {
    filters.push({
      keep: (a) => a.capabilities.sandbox,
      reason: "no ready agent can sandbox tasks (bubblewrap)",
      lacks: "sandbox",
    });
  } else {
    filters.push({
      keep: (a) => a.capabilities.unsandboxed,
      reason: "it opts out of the sandbox and no ready agent allows that (--allow-unsandboxed)",
      lacks: "unsandboxed",
    });
  }
  if (needs.resources.memory > 0) {
    filters.push({
      keep: (a) => a.capabilities.cgroup !== null,
      reason: "no ready agent can enforce memory limits (cgroups)",
      lacks: "cgroup",
    });
  }
  for (const c of needs.constraints) {
    filters.push({ keep: (a) => matchesConstraint(a, c), reason: `no ready agent matches ${describeConstraint(c)}` });
  }
  const signedBy = needs.signedBy;
  filters.push({
    keep: (a) =>
      a.capabilities.verifyKeys === undefined || (signedBy !== null && a.capabilities.verifyKeys.includes(signedBy)),
    reason: signedBy === null
      ? "its job is not signed, and every agent that could take it runs only signed jobs (--verify-key)"
      : `no agent that could take it trusts the key its job is signed with (${keyName(signedBy)})`,
  });
  filters.push({ keep: (a) => !a.draining, reason: "every agent that could take it is draining" });
  const r = needs.resources;
  filters.push({
    keep: (a) =>
      (r.cpu === 0 || a.resources.cpu >= r.cpu) && (r.memory === 0 || a.resources.memory >= r.memory) &&
      (r.disk === 0 || a.resources.disk >= r.disk),
    reason: "no ready agent is big enough for its resources",
  });
  return filters;
}

/** Agents that could ever take the task, or why none can. */
export function eligibleAgents<C extends Candidate>(
  agents: C[],
  needs: PlacementNeeds,
): { agents: C[]; reason: string | null; lacks?: ToolCapability; hint?: string } {
  if (agents.length === 0) return { agents, reason: "no agent is ready" };
  let kept = agents;
  for (const filter of staticFilters(needs)) {
    kept = kept.filter(filter.keep);
    if (kept.length === 0) return { agents: kept, reason: filter.reason, lacks: filter.lacks, hint: filter.hint };
  }
  return { agents: kept, reason: null };
}

/** Whether the agent has a free slot (or queue place, with `depth` over 1) and the requested resources free now. */
export function fits(agent: Candidate, request: AgentResources, depth = 1): boolean {
  if (agent.used >= agent.slots * depth) return false;
  const free = (key: keyof AgentResources) =>
    request[key] === 0 || agent.allocated[key] + request[key] <= agent.resources[key];
  return free("cpu") && free("memory") && free("disk");
}

/** How full the agent would be with the task on it: the highest share of slots or any requested resource. */
export function utilisation(agent: Candidate, request: AgentResources): number {
  let share = (agent.used + 1) / agent.slots;
  for (const key of ["cpu", "memory", "disk"] as const) {
    if (request[key] > 0 && agent.resources[key] > 0) {
      share = Math.max(share, (agent.allocated[key] + request[key]) / agent.resources[key]);
    }
  }
  return share;
}

export interface ChoiceContext {
  /** A number in [0, 1). */
  random: () => number;
  /** The name of the agent this task template went to last (round_robin). */
  lastPicked: string | null;
}

/**
 * Pick among agents that fit. least_loaded scores each agent as utilisation x weight (GlooX's
 * score): `spread` takes the lowest score, `binpack` the highest; ties go to the lower load
 * average, then the name. `random` is uniform; `round_robin` takes the next name after the last.
 */
export function choose<C extends Candidate>(fitting: C[], needs: PlacementNeeds, context: ChoiceContext): C | null {
  if (fitting.length === 0) return null;
  switch (needs.select) {
    case "random":
      return fitting[Math.min(fitting.length - 1, Math.floor(context.random() * fitting.length))];
    case "round_robin": {
      const sorted = [...fitting].sort((a, b) => compareNames(a.name, b.name));
      return sorted.find((a) => context.lastPicked !== null && compareNames(a.name, context.lastPicked) > 0) ??
        sorted[0];
    }
    default: {
      const direction = needs.strategy === "binpack" ? -1 : 1;
      let best: C | null = null;
      let bestScore = 0;
      for (const agent of fitting) {
        const score = utilisation(agent, needs.resources) * agent.weight;
        if (best === null) {
          best = agent;
          bestScore = score;
          continue;
        }
        const byScore = (score - bestScore) * direction;
        const better = byScore < -1e-12 ||
          (Math.abs(byScore) <= 1e-12 &&
            (agent.load1 < best.load1 || (agent.load1 === best.load1 && compareNames(agent.name, best.name) < 0)));
        if (better) {
          best = agent;
          bestScore = score;
        }
      }
      return best;
    }
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
