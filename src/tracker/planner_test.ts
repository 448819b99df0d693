import assert from "node:assert/strict";
import { effectiveTask, type JobSpec, type TaskSpec } from "../protocol/mod.ts";
import { plan, type PlanAgent, type PlanTemplate, type ReadyTasks } from "./planner.ts";

const ALL_CAPS = { sandbox: true, unsandboxed: false, cgroup: "v1" as const, deno: true, git: true };

interface Task {
  id: string;
  record: { pinnedAgent: string | null };
}

class Ready implements ReadyTasks<Task> {
  constructor(readonly tasks: Task[]) {}
  peek(): Task | undefined {
    return this.tasks[0];
  }
  waitingTasks(): Iterable<Task> {
    return this.tasks;
  }
}

type Template = PlanTemplate<Task>;

function agent(name: string, over: Partial<PlanAgent["record"]> & { used?: number } = {}): PlanAgent {
  const { used = 0, ...record } = over;
  return {
    record: {
      id: name,
      name,
      labels: {},
      os: "linux",
      arch: "x86_64",
      slots: 2,
      weight: 1,
      load: null,
      capabilities: ALL_CAPS,
      resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
      draining: false,
      state: "ready",
      admission: "approved",
      ...record,
    },
    tasks: { size: used },
    allocated: { cpu: 0, memory: 0, disk: 0 },
  };
}

interface TemplateOptions {
  count?: number;
  pins?: string[];
  job?: Template["job"];
  active?: number;
  runs?: number;
  runtimeEma?: number | null;
  lastPicked?: string | null;
}

/** A template as the job file would make it, with `count` ready tasks named NAME[i]. */
function template(spec: Partial<TaskSpec> & { name: string }, options: TemplateOptions = {}): Template {
  const job = options.job ?? { active: 0, record: { spec: {}, signed: null, cancelRequested: false } };
  const full = { run: "x", ...spec } as TaskSpec;
  const jobSpec = { name: "j", tasks: [full], ...job.record.spec } as JobSpec;
  const pins = options.pins ?? Array.from({ length: options.count ?? 1 }, () => null);
  return {
    name: spec.name,
    effective: effectiveTask(jobSpec, full),
    job,
    active: options.active ?? 0,
    runs: options.runs ?? 0,
    runtimeEma: options.runtimeEma ?? null,
    lastPicked: options.lastPicked ?? null,
    ready: new Ready(pins.map((pin, i) => ({ id: `${spec.name}[${i}]`, record: { pinnedAgent: pin } }))),
  };
}

interface Case {
  name: string;
  agents: PlanAgent[];
  templates: Template[];
  random?: () => number;
  /** task id -> agent name, in the order placed. */
  placed: Array<[string, string]>;
  /** template name -> why some of its tasks wait (null: none wait). */
  reasons: Record<string, string | null>;
}

const KEY = "K".repeat(43) + "=";
const sharedJob = { active: 1, record: { spec: { concurrency: 2 }, signed: null, cancelRequested: false } };

const CASES: Case[] = [
  {
    name: "a job being cancelled (its cancel not through all of its tasks yet) has none of its tasks placed",
    agents: [agent("a", { slots: 4 })],
    templates: [
      template({ name: "cancelled" }, {
        count: 2,
        job: { active: 0, record: { spec: {}, signed: null, cancelRequested: true } },
      }),
      template({ name: "other" }, { count: 1 }),
    ],
    placed: [["other[0]", "a"]],
    reasons: { cancelled: "the job is being cancelled", other: null },
  },
  {
    name: "templates are served in the order given, each until the agents are full",
    agents: [agent("a", { slots: 2 })],
    templates: [template({ name: "first" }, { count: 1 }), template({ name: "second" }, { count: 3 })],
    placed: [["first[0]", "a"], ["second[0]", "a"]],
    reasons: { first: null, second: "waiting for a free slot on 1 eligible agent(s)" },
  },
  {
    name: "least_loaded spreads over agents, ties going to the lower name",
    agents: [agent("b"), agent("a")],
    templates: [template({ name: "t" }, { count: 3 })],
    placed: [["t[0]", "a"], ["t[1]", "b"], ["t[2]", "a"]],
    reasons: { t: null },
  },
  {
    name: "a template no agent can take is passed over with the reason, and the next one is served",
    agents: [agent("a")],
    templates: [
      template({ name: "mars", constraints: [{ label: "zone", equals: "mars" }] }),
      template({ name: "here" }),
    ],
    placed: [["here[0]", "a"]],
    reasons: { mars: "no ready agent matches zone == mars", here: null },
  },
  {
    name: "with every slot taken, a template says whether agents are busy",
    agents: [agent("a", { slots: 1, used: 16 })],
    templates: [template({ name: "t" })],
    placed: [],
    reasons: { t: "every ready agent is busy" },
  },
  {
    name: "without ready agents, a template says so (down agents do not count)",
    agents: [agent("a", { state: "down" })],
    templates: [template({ name: "t" })],
    placed: [],
    reasons: { t: "no agent is ready" },
  },
  {
    name: "an agent waiting for approval (--approve-agents) or removed takes no work",
    agents: [agent("p", { admission: "pending" }), agent("r", { admission: "removed", state: "down" }), agent("a")],
    templates: [template({ name: "t" }, { count: 2 })],
    placed: [["t[0]", "a"], ["t[1]", "a"]],
    reasons: { t: null },
  },
  {
    name: "a draining agent takes no work",
    agents: [agent("a", { draining: true })],
    templates: [template({ name: "t" })],
    placed: [],
    reasons: { t: "every ready agent is busy" },
  },
  {
    name: "resources placed in this pass count against the agent",
    agents: [agent("a", { slots: 4, resources: { cpu: 2, memory: 2 ** 33, disk: 0 } })],
    templates: [template({ name: "t", resources: { cpu: 1 } }, { count: 3 })],
    placed: [["t[0]", "a"], ["t[1]", "a"]],
    reasons: { t: "waiting for a free slot with 1 CPU on 1 eligible agent(s)" },
  },
  {
    name: "a template's concurrency counts what runs and what this pass placed",
    agents: [agent("a", { slots: 8 })],
    templates: [template({ name: "t", concurrency: 3 }, { count: 5, active: 1 })],
    placed: [["t[0]", "a"], ["t[1]", "a"]],
    reasons: { t: '"t" runs at most 3 at once' },
  },
  {
    name: "a job's concurrency counts every template of the job in the pass",
    agents: [agent("a", { slots: 8 })],
    templates: [
      template({ name: "x" }, { count: 1, job: sharedJob }),
      template({ name: "y" }, { count: 2, job: sharedJob }),
    ],
    placed: [["x[0]", "a"]],
    reasons: { x: null, y: "the job runs at most 2 task(s) at once" },
  },
  {
    name: "a signed job's tasks go to agents that trust its key or check none; an unsigned job's skip the strict ones",
    agents: [
      agent("open", { slots: 1 }),
      agent("strict", { capabilities: { ...ALL_CAPS, verifyKeys: [KEY] } }),
      agent("other", { capabilities: { ...ALL_CAPS, verifyKeys: ["O".repeat(43) + "="] } }),
    ],
    templates: [
      template({ name: "signed" }, {
        count: 3,
        job: { active: 0, record: { spec: {}, signed: { publicKey: KEY }, cancelRequested: false } },
      }),
      template({ name: "unsigned" }),
    ],
    placed: [["signed[0]", "strict"], ["signed[1]", "open"], ["signed[2]", "strict"]],
    reasons: { signed: null, unsigned: "waiting for a free slot on 1 eligible agent(s)" },
  },
  {
    name: "select: all places each copy on the agent it names, and says which cannot be placed",
    agents: [agent("a"), agent("b")],
    templates: [template({ name: "t", select: "all" }, { pins: ["b", "gone", "a"] })],
    placed: [["t[0]", "b"], ["t[2]", "a"]],
    reasons: { t: 'it runs on agent "gone", which is not ready' },
  },
  {
    name: "round_robin goes on from the agent the template used last, within the pass too",
    agents: [agent("a"), agent("b"), agent("c")],
    templates: [template({ name: "t", select: "round_robin" }, { count: 3, lastPicked: "a" })],
    placed: [["t[0]", "b"], ["t[1]", "c"], ["t[2]", "a"]],
    reasons: { t: null },
  },
  {
    name: "select: random takes the agent the random number points at",
    agents: [agent("a"), agent("b"), agent("c")],
    templates: [template({ name: "t", select: "random" }, { count: 2 })],
    random: (() => {
      const draws = [0.9, 0.4];
      return () => draws.shift()!;
    })(),
    placed: [["t[0]", "c"], ["t[1]", "b"]],
    reasons: { t: null },
  },
  {
    name: "very short tasks, once proven, are held ahead: up to 16 per slot",
    agents: [agent("a", { slots: 1 })],
    templates: [template({ name: "t" }, { count: 20, runs: 4, runtimeEma: 1 })],
    placed: Array.from({ length: 16 }, (_, i) => [`t[${i}]`, "a"] as [string, string]),
    reasons: { t: "waiting for a free slot on 1 eligible agent(s)" },
  },
  {
    name: "long tasks are never held ahead",
    agents: [agent("a", { slots: 1 })],
    templates: [template({ name: "t" }, { count: 3, runs: 10, runtimeEma: 5000 })],
    placed: [["t[0]", "a"]],
    reasons: { t: "waiting for a free slot on 1 eligible agent(s)" },
  },
];

for (const c of CASES) {
  Deno.test(`planner: ${c.name}`, () => {
    const result = plan({ templates: c.templates, agents: c.agents }, c.random ?? (() => 0));
    assert.deepEqual(result.placements.map((p) => [p.task.id, p.agent.record.name]), c.placed);
    assert.deepEqual(Object.fromEntries([...result.reasons].map(([t, reason]) => [t.name, reason])), c.reasons);
  });
}

Deno.test("planner: a template with nothing ready is not looked at, and a pass with nothing ready costs nothing", () => {
  const empty = template({ name: "empty" }, { pins: [] });
  const result = plan({ templates: [empty], agents: [agent("a")] }, () => 0);
  assert.deepEqual(result.placements, []);
  assert.equal(result.reasons.size, 0);
});

Deno.test("planner: a plan changes nothing it reads (the caller applies it)", () => {
  const agents = [agent("a", { slots: 1, resources: { cpu: 2, memory: 0, disk: 0 } }), agent("b")];
  const templates = [
    template({ name: "t", resources: { cpu: 1 }, select: "round_robin" }, { count: 3, lastPicked: "b" }),
  ];
  const before = structuredClone({
    agents,
    templates: templates.map((t) => ({ ...t, ready: [...t.ready.waitingTasks()] })),
  });
  const result = plan({ templates, agents }, () => 0);
  assert.deepEqual(result.placements.map((p) => p.agent.record.name), ["a", "b", "b"]);
  const after = structuredClone({
    agents,
    templates: templates.map((t) => ({ ...t, ready: [...t.ready.waitingTasks()] })),
  });
  assert.deepEqual(after, before);
});
