/**
 * Faults, one at a time: kill -9 of an agent (started again with its data directory), kill -9 of
 * the tracker (started again on its port and data directory), and cuts of one agent's network,
 * longer or shorter than the agent TTL. With several trackers on PostgreSQL: kill -9 of the leader
 * or of a follower (started again), and PostgreSQL stopped and started again, instead of the one
 * tracker's kill and the cuts. Each waits for the fleet to be healthy after the previous one, so
 * every loss can be traced to the one fault that caused it.
 */
import type { FaultKind, FaultPlan, FaultRecord } from "./model.ts";
import type { Fleet } from "./processes.ts";
import type { Random } from "./random.ts";

export interface FaultOptions {
  agents: string[];
  ttlMs: number;
  heartbeatMs: number;
  /** How many to plan (more than can happen: injection stops at its deadline). */
  count: number;
  /** Several trackers on PostgreSQL: the faults of that mode, under a lease of `leaseMs`. */
  several?: { leaseMs: number };
}

const KINDS: readonly FaultKind[] = ["kill_agent", "kill_tracker", "cut_long", "cut_short"];
/** Agents are killed and cut more often than the tracker. */
const WEIGHTED: readonly FaultKind[] = [
  "kill_agent",
  "kill_agent",
  "kill_tracker",
  "cut_long",
  "cut_short",
  "cut_short",
];

const SEVERAL_KINDS: readonly FaultKind[] = ["kill_agent", "kill_leader", "kill_follower", "restart_store"];
/** The leader, whose loss is the takeover, more often than the rest. */
const SEVERAL_WEIGHTED: readonly FaultKind[] = [
  "kill_agent",
  "kill_leader",
  "kill_leader",
  "kill_follower",
  "restart_store",
];

export function planFaults(random: Random, options: FaultOptions): FaultPlan[] {
  // Every kind early on, in a seeded order; then a weighted mix.
  const kinds = [...random.shuffle(options.several ? SEVERAL_KINDS : KINDS)];
  while (kinds.length < options.count) kinds.push(random.pick(options.several ? SEVERAL_WEIGHTED : WEIGHTED));
  return kinds.map((kind, i) => ({
    kind,
    gapMs: i === 0 ? random.int(1500, 3000) : random.int(500, 2500),
    agent: kind === "kill_agent" || kind.startsWith("cut") ? random.pick(options.agents) : null,
    downMs: downTime(kind, random, options),
    // Drawn only in that mode, so that a one-tracker seed still repeats its earlier runs' choices.
    pick: options.several ? random.int(0, 1000) : 0,
    mode: random.chance(0.5) ? "refuse" : "blackhole",
  }));
}

function downTime(kind: FaultKind, random: Random, options: FaultOptions): number {
  switch (kind) {
    case "kill_agent":
      return random.int(200, 2000);
    case "kill_tracker":
    case "kill_follower":
      return random.int(200, 1500);
    case "kill_leader": {
      // Back before its lease ends (it takes its own lease back at once) or well after (another took over).
      const leaseMs = options.several?.leaseMs ?? 0;
      return random.chance(0.5) ? random.int(200, leaseMs / 2) : random.int(leaseMs + 1000, 2 * leaseMs + 1000);
    }
    case "restart_store":
      return random.int(300, 2000);
    case "cut_long":
      // Well past the TTL, well short of the workload's lostAfter.
      return random.int(options.ttlMs + 1000, options.ttlMs + 3000);
    case "cut_short":
      // The agent's last heartbeat may be one interval old when the cut begins, and its next one
      // after the heal one interval later: the silence must stay under the TTL all the same.
      return random.int(100, Math.max(100, options.ttlMs - 3 * options.heartbeatMs - 200));
  }
}

export interface InjectOptions {
  /** No fault begins after this moment (epoch ms). */
  until: number;
  /** Agents running long tasks now, preferred as targets of kills and long cuts. */
  longRunning: () => Promise<string[]>;
  recoveryTimeoutMs: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

export async function injectFaults(plan: FaultPlan[], fleet: Fleet, options: InjectOptions): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  for (const fault of plan) {
    await sleep(fault.gapMs, options.signal);
    if (options.signal.aborted || Date.now() + fault.downMs + 1000 > options.until) break;
    const record = await inject(fault, fleet, options);
    records.push(record);
    const recovered = await fleet.waitHealthy(options.recoveryTimeoutMs);
    record.recovered = recovered;
    record.recoveredAt = recovered ? Date.now() : null;
    options.log(
      `fault ${records.length}: ${describeTarget(record)} for ${record.end - record.start}ms` +
        (fault.kind.startsWith("cut") ? ` (${fault.mode})` : "") +
        (recovered ? `, healthy again after ${record.recoveredAt! - record.end}ms` : ", NOT RECOVERED"),
    );
    if (!recovered) break;
  }
  return records;
}

/**
 * A fault on an idle agent proves little. The planned agent is taken if it fits, else the next one
 * in order that does: for kills and long cuts, one running a long task (whose run then outlives
 * its lease); otherwise, or if none does, one running anything. The plan stays seeded; the choice
 * depends on the moment.
 */
async function targetOf(fault: FaultPlan, fleet: Fleet, options: InjectOptions): Promise<string | null> {
  if (fault.agent === null) return null;
  const names = fleet.agentNames;
  const from = names.indexOf(fault.agent);
  const order = [...names.slice(from), ...names.slice(0, from)];
  if (fault.kind === "kill_agent" || fault.kind === "cut_long") {
    const long = new Set(await options.longRunning().catch(() => []));
    const found = order.find((name) => long.has(name));
    if (found) return found;
  }
  const client = fleet.client();
  try {
    const busy = new Set((await client.listAgents()).filter((a) => a.running > 0).map((a) => a.name));
    return order.find((name) => busy.has(name)) ?? fault.agent;
  } catch {
    return fault.agent;
  } finally {
    client.close();
  }
}

async function inject(planned: FaultPlan, fleet: Fleet, options: InjectOptions): Promise<FaultRecord> {
  const fault = { ...planned, agent: await targetOf(planned, fleet, options) };
  const record: FaultRecord = {
    kind: fault.kind,
    agent: fault.agent,
    start: Date.now(),
    end: 0,
    mode: fault.mode,
    recovered: false,
    recoveredAt: null,
  };
  switch (fault.kind) {
    case "kill_agent":
      await fleet.killAgent(fault.agent!);
      record.start = Date.now();
      await sleep(fault.downMs);
      await startAgain(() => fleet.startAgent(fault.agent!), options);
      break;
    case "kill_tracker":
      await fleet.killTracker();
      record.start = Date.now();
      await sleep(fault.downMs);
      await startAgain(() => fleet.startTracker(), options);
      break;
    case "kill_leader":
    case "kill_follower": {
      const leader = await fleet.leaderIndex();
      const followers = [...Array(fleet.trackerCount).keys()].filter((i) => i !== leader);
      const target = fault.kind === "kill_leader" ? leader ?? 0 : followers[fault.pick % followers.length];
      record.tracker = target + 1;
      await fleet.killTracker(target);
      record.start = Date.now();
      await sleep(fault.downMs);
      await startAgain(() => fleet.startTracker(target), options);
      break;
    }
    case "restart_store":
      await fleet.pauseStore();
      record.start = Date.now();
      await sleep(fault.downMs);
      await fleet.resumeStore();
      break;
    case "cut_long":
    case "cut_short":
      fleet.cut(fault.agent!, fault.mode);
      record.start = Date.now();
      await sleep(fault.downMs);
      fleet.heal(fault.agent!);
      break;
  }
  record.end = Date.now();
  return record;
}

function describeTarget(record: FaultRecord): string {
  const target = record.agent ?? (record.tracker ? `tracker-${record.tracker}` : "");
  return target ? `${record.kind} ${target}` : record.kind;
}

/** A process that does not come back is retried once; the fault then counts as not survived. */
async function startAgain(start: () => Promise<void>, options: InjectOptions): Promise<void> {
  try {
    await start();
  } catch (error) {
    options.log(`could not start again (${(error as Error).message.split("\n")[0]}); retrying once`);
    await start().catch((again) => options.log(`could not start again: ${(again as Error).message.split("\n")[0]}`));
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
