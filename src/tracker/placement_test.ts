import assert from "node:assert/strict";
import type { Constraint } from "../protocol/mod.ts";
import {
  type Candidate,
  choose,
  eligibleAgents,
  fits,
  matchesConstraint,
  type PlacementNeeds,
  utilisation,
} from "./placement.ts";

const ALL_CAPS = { sandbox: true, unsandboxed: false, cgroup: "v1" as const, deno: true, git: true };

function agent(name: string, over: Partial<Candidate> = {}): Candidate {
  return {
    id: name,
    name,
    labels: {},
    os: "linux",
    arch: "x86_64",
    slots: 4,
    used: 0,
    weight: 1,
    load1: 0,
    capabilities: ALL_CAPS,
    resources: { cpu: 4, memory: 8 * 2 ** 30, disk: 100 * 2 ** 30 },
    allocated: { cpu: 0, memory: 0, disk: 0 },
    draining: false,
    ...over,
  };
}

function needs(over: Partial<PlacementNeeds> = {}): PlacementNeeds {
  return {
    kind: "shell",
    uses: null,
    sandbox: true,
    constraints: [],
    agents: null,
    exclude: [],
    resources: { cpu: 0, memory: 0, disk: 0 },
    select: "least_loaded",
    strategy: "spread",
    pinnedAgent: null,
    signedBy: null,
    ...over,
  };
}

const ctx = { random: () => 0, lastPicked: null };

Deno.test("spread takes the agent with the lowest utilisation x weight; binpack the highest that fits", () => {
  const agents = [agent("a", { used: 2 }), agent("b", { used: 1 }), agent("c", { used: 3 })];
  assert.equal(choose(agents, needs(), ctx)?.name, "b");
  assert.equal(choose(agents, needs({ strategy: "binpack" }), ctx)?.name, "c");
  const weighted = [agent("a", { used: 1, weight: 1 }), agent("b", { used: 0, weight: 3 })];
  // a: (1+1)/4 x 1 = 0.5; b: (0+1)/4 x 3 = 0.75
  assert.equal(choose(weighted, needs(), ctx)?.name, "a");
});

Deno.test("equal scores are broken by load average, then by name", () => {
  assert.equal(choose([agent("a", { load1: 0.9 }), agent("b", { load1: 0.1 })], needs(), ctx)?.name, "b");
  assert.equal(choose([agent("b"), agent("a")], needs(), ctx)?.name, "a");
});

Deno.test("random picks with the random number given; round_robin takes the next name", () => {
  const agents = [agent("a"), agent("b"), agent("c")];
  assert.equal(choose(agents, needs({ select: "random" }), { random: () => 0.99, lastPicked: null })?.name, "c");
  assert.equal(choose(agents, needs({ select: "random" }), { random: () => 0.4, lastPicked: null })?.name, "b");
  const rr = needs({ select: "round_robin" });
  assert.equal(choose(agents, rr, { random: () => 0, lastPicked: null })?.name, "a");
  assert.equal(choose(agents, rr, { random: () => 0, lastPicked: "a" })?.name, "b");
  assert.equal(choose(agents, rr, { random: () => 0, lastPicked: "c" })?.name, "a");
});

Deno.test("a task fits only where a slot and its resources are free; utilisation counts the fullest resource", () => {
  const busy = agent("a", { used: 4 });
  assert.equal(fits(busy, { cpu: 0, memory: 0, disk: 0 }), false);
  const half = agent("b", { allocated: { cpu: 3, memory: 0, disk: 0 } });
  assert.equal(fits(half, { cpu: 2, memory: 0, disk: 0 }), false);
  assert.equal(fits(half, { cpu: 1, memory: 0, disk: 0 }), true);
  assert.equal(utilisation(half, { cpu: 1, memory: 0, disk: 0 }), 1);
  assert.equal(utilisation(half, { cpu: 0, memory: 0, disk: 0 }), 0.25);
});

Deno.test("constraints: equals, notEquals, in, exists, matches, and fabric.* attributes", () => {
  const a = agent("build-1", { labels: { zone: "eu", gpu: "a100" } });
  const check = (c: Constraint) => matchesConstraint(a, c);
  assert.equal(check({ label: "zone", equals: "eu" }), true);
  assert.equal(check({ label: "zone", notEquals: "eu" }), false);
  assert.equal(check({ label: "missing", notEquals: "eu" }), true);
  assert.equal(check({ label: "zone", in: ["us", "eu"] }), true);
  assert.equal(check({ label: "gpu", exists: true }), true);
  assert.equal(check({ label: "tpu", exists: false }), true);
  assert.equal(check({ label: "gpu", matches: "^a1" }), true);
  assert.equal(check({ label: "fabric.name", matches: "^build-" }), true);
  assert.equal(check({ label: "fabric.arch", equals: "arm64" }), false);
});

Deno.test("a matches constraint over an agent's label runs in linear time (ReDoS froze the tracker 8.8 s)", () => {
  // JavaScript's RegExp backtracks 2^n times on this pattern and n a's with a b after them.
  const hostile = agent("evil", { labels: { pool: "a".repeat(32) + "b" } });
  const started = performance.now();
  for (let i = 0; i < 100; i++) {
    assert.equal(matchesConstraint(hostile, { label: "pool", matches: "^(a+)+$" }), false);
    assert.equal(matchesConstraint(hostile, { label: "pool", matches: `^(a|aa)+$|x${i}` }), false);
  }
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  // A pattern stored before validation took only RE2 (a lookahead) matches nothing instead of throwing.
  assert.equal(matchesConstraint(hostile, { label: "pool", matches: "^(?=a)" }), false);
});

Deno.test("eligibility says which rule left no agent", () => {
  const agents = [
    agent("a", { labels: { zone: "eu" } }),
    agent("b", { capabilities: { ...ALL_CAPS, sandbox: false } }),
  ];
  assert.deepEqual(eligibleAgents(agents, needs()).agents.map((x) => x.name), ["a"]);
  assert.equal(
    eligibleAgents(agents, needs({ constraints: [{ label: "zone", equals: "us" }] })).reason,
    "no ready agent matches zone == us",
  );
  assert.equal(eligibleAgents([agents[1]], needs()).reason, "no ready agent can sandbox tasks (bubblewrap)");
  assert.equal(
    eligibleAgents(agents, needs({ sandbox: false })).reason,
    "it opts out of the sandbox and no ready agent allows that (--allow-unsandboxed)",
  );
  assert.equal(eligibleAgents(agents, needs({ agents: ["c"] })).reason, "no ready agent among its agents: c");
  assert.equal(eligibleAgents(agents, needs({ exclude: ["a", "b"] })).reason, "every ready agent is excluded (a, b)");
  assert.equal(
    eligibleAgents(agents, needs({ resources: { cpu: 64, memory: 0, disk: 0 } })).reason,
    "no ready agent is big enough for its resources",
  );
  assert.equal(eligibleAgents([], needs()).reason, "no agent is ready");
  // The capability a rule asks for, so that a user can be told what to install.
  assert.equal(eligibleAgents([agents[1]], needs()).lacks, "sandbox");
  assert.equal(eligibleAgents(agents, needs({ sandbox: false })).lacks, "unsandboxed");
  assert.equal(eligibleAgents(agents, needs({ agents: ["c"] })).lacks, undefined);
});

Deno.test("every kind needs the sandbox unless it opts out, and scripts and git tasks their runtime", () => {
  const noSandbox = agent("a", { capabilities: { ...ALL_CAPS, sandbox: false, unsandboxed: true } });
  const reason = (candidate: Candidate, over: Partial<PlacementNeeds>) =>
    eligibleAgents([candidate], needs(over)).reason;
  assert.equal(reason(noSandbox, { kind: "script" }), "no ready agent can sandbox tasks (bubblewrap)");
  assert.equal(reason(noSandbox, { kind: "script", sandbox: false }), null);
  assert.equal(
    reason(agent("b", { capabilities: { ...ALL_CAPS, unsandboxed: false } }), { kind: "script", sandbox: false }),
    "it opts out of the sandbox and no ready agent allows that (--allow-unsandboxed)",
  );
  assert.equal(
    reason(agent("c", { capabilities: { ...ALL_CAPS, deno: false } }), { kind: "script" }),
    "no ready agent has a Deno runtime for script tasks",
  );
  assert.equal(
    reason(agent("d", { capabilities: { ...ALL_CAPS, git: false } }), { kind: "git" }),
    "no ready agent has git",
  );
  assert.equal(reason(agent("e", { capabilities: { ...ALL_CAPS, deno: false, git: false } }), { kind: "shell" }), null);
});

Deno.test("an agent with verify keys takes only jobs signed by one of them; others take any job", () => {
  const mine = "M".repeat(43) + "=";
  const theirs = "T".repeat(43) + "=";
  const strict = agent("strict", { capabilities: { ...ALL_CAPS, verifyKeys: [mine] } });
  const open = agent("open");
  const names = (signedBy: string | null, agents = [strict, open]) =>
    eligibleAgents(agents, needs({ signedBy })).agents.map((x) => x.name);
  assert.deepEqual(names(mine), ["strict", "open"]);
  assert.deepEqual(names(theirs), ["open"]);
  assert.deepEqual(names(null), ["open"]);
  assert.equal(
    eligibleAgents([strict], needs({ signedBy: null })).reason,
    "its job is not signed, and every agent that could take it runs only signed jobs (--verify-key)",
  );
  assert.equal(
    eligibleAgents([strict], needs({ signedBy: theirs })).reason,
    "no agent that could take it trusts the key its job is signed with (ed25519:TTTTTTTTTTTTTTTT)",
  );
});

Deno.test("a task that uses an add-on goes only to agents advertising that name and version", () => {
  const addon = (version: string) => ({ name: "http-check", version, description: "", parameters: {} });
  const old = agent("old", { capabilities: { ...ALL_CAPS, addons: [addon("0.9.0")] } });
  const none = agent("none");
  const has = agent("has", { capabilities: { ...ALL_CAPS, addons: [addon("0.9.0"), addon("1.0.0")] } });
  const wants = needs({ kind: "addon", uses: "http-check@1.0.0" });
  assert.deepEqual(eligibleAgents([old, none, has], wants).agents.map((a) => a.name), ["has"]);
  assert.equal(eligibleAgents([old, none], wants).reason, "no agent has add-on http-check@1.0.0");
});
