/**
 * The chaos run, bounded for CI: a tracker and three agents (each behind its own TCP proxy) under a
 * few hundred tasks, while agents and the tracker are killed and agents are cut off; then every
 * invariant is checked. The same with three trackers on one PostgreSQL, while the leader, followers,
 * agents and PostgreSQL itself go down. CHAOS_SEED repeats an earlier run's choices; `deno task chaos`
 * runs longer.
 */
import assert from "node:assert/strict";
import { runChaos } from "./chaos/chaos.ts";
import { lostAfterAccepted } from "./chaos/main.ts";
import { newSeed } from "./chaos/random.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "under agent kills, tracker kills and network cuts, fabric keeps every invariant",
  ignore: lacks("bwrap"),
}, () => chaosRun(1));

Deno.test({
  name:
    "three trackers on PostgreSQL: under leader, follower, agent kills and PostgreSQL restarts, every invariant holds",
  ignore: lacks("bwrap", "postgres"),
}, () => chaosRun(3));

async function chaosRun(trackers: number): Promise<void> {
  const seed = Deno.env.get("CHAOS_SEED") ? Number(Deno.env.get("CHAOS_SEED")) : newSeed();
  const verbose = Deno.env.get("CHAOS_VERBOSE") === "1";
  const report = await runChaos({
    trackers,
    durationMs: 40_000,
    seed,
    agents: 3,
    slots: 2,
    lostAfter: lostAfterAccepted(),
    keep: false,
    maxBigBytes: 2 * 1024 * 1024,
    settleTimeoutMs: 40_000,
    log: verbose ? (line) => console.log(`[chaos] ${line}`) : () => {},
  });
  console.log(`${report.summary}\ntook ${(report.elapsedMs / 1000).toFixed(1)}s`);
  assert.ok(report.pass, `${report.summary}\nrun directory kept: ${report.root}`);
}
