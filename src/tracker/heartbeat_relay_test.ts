/**
 * The follower's heartbeat relay on a driven clock: when it answers from what it knows, when it asks
 * the leader first, and what an agent is told when the leader is away. The leader here is a function
 * that records each batch; the real one is tests/hot_heartbeats_test.ts's.
 */
import assert from "node:assert/strict";
import {
  type AgentLoad,
  FabricError,
  type HeartbeatResponse,
  type RelayedAnswer,
  type RelayedHeartbeats,
  type RelayedHeartbeatsResponse,
} from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { HeartbeatRelay } from "./heartbeat_relay.ts";

const LOAD: AgentLoad = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 2, running: 0, freeSlots: 1 };
const HEARTBEAT_MS = 2000;

class Leader {
  batches: RelayedHeartbeats["heartbeats"][] = [];
  states = new Map<string, RelayedAnswer["state"]>();
  away: FabricError | null = null;
  /** While set, answers wait for it (a leader that hangs). */
  hold: Promise<void> | null = null;

  send = async (batch: RelayedHeartbeats): Promise<RelayedHeartbeatsResponse> => {
    this.batches.push(batch.heartbeats);
    if (this.hold) await this.hold;
    if (this.away) throw this.away;
    const answers = batch.heartbeats.map(({ agentId }) => ({
      agentId,
      state: this.states.get(agentId) ?? "unknown",
      drainDeadline: this.states.get(agentId) === "draining" ? 42 : null,
    }));
    return { heartbeatMs: HEARTBEAT_MS, ttlMs: 3 * HEARTBEAT_MS, answers };
  };
}

function setup() {
  const clock = new FakeClock();
  const leader = new Leader();
  const relay = new HeartbeatRelay({ send: leader.send, heartbeatMs: HEARTBEAT_MS, ttlMs: 6000, clock });
  return { clock, leader, relay };
}

/** The answer, settled by ticking the clock (a first heartbeat waits for a batch). */
async function answer(
  clock: FakeClock,
  pending: HeartbeatResponse | Promise<HeartbeatResponse>,
): Promise<{ value?: HeartbeatResponse; error?: unknown }> {
  const settled = Promise.resolve(pending).then((value) => ({ value }), (error: unknown) => ({ error }));
  await clock.tick(0);
  return await settled;
}

Deno.test("a first heartbeat waits for the leader; later ones are answered at once and sent a batch interval later, together", async () => {
  const { clock, leader, relay } = setup();
  leader.states.set("a", "ready").set("b", "ready");
  assert.equal(relay.intervalMs, 1000);
  const first = relay.heartbeat("a", LOAD);
  assert.ok(first instanceof Promise, "nothing known of a yet: the leader answers");
  assert.deepEqual(await answer(clock, first), {
    value: { state: "ready", heartbeatMs: HEARTBEAT_MS, ttlMs: 6000, drainDeadline: null },
  });
  assert.equal(leader.batches.length, 1);
  await answer(clock, relay.heartbeat("b", LOAD));
  assert.equal(leader.batches.length, 2);

  // Known and fresh: answered now, queued; both go in one batch after the interval, with their ages.
  await clock.tick(500);
  const known = relay.heartbeat("a", LOAD);
  assert.ok(!(known instanceof Promise));
  assert.equal(known.state, "ready");
  await clock.tick(200);
  relay.heartbeat("b", LOAD);
  relay.heartbeat("a", LOAD); // the newer replaces the older: one entry an agent
  await clock.tick(799);
  assert.equal(leader.batches.length, 2, "not before the interval after the first queued");
  await clock.tick(1);
  assert.equal(leader.batches.length, 3);
  assert.deepEqual(leader.batches[2].map((h) => [h.agentId, h.ageMs]), [["a", 800], ["b", 800]]);
});

Deno.test("a drain made at the leader shows in the agent's next answer after the batch that learns it", async () => {
  const { clock, leader, relay } = setup();
  leader.states.set("a", "ready");
  await answer(clock, relay.heartbeat("a", LOAD));
  leader.states.set("a", "draining");
  assert.equal((relay.heartbeat("a", LOAD) as HeartbeatResponse).state, "ready", "not yet known");
  await clock.tick(1000);
  const next = relay.heartbeat("a", LOAD) as HeartbeatResponse;
  assert.deepEqual([next.state, next.drainDeadline], ["draining", 42]);
});

Deno.test("an agent the leader does not know (removed) is refused 401, at its first heartbeat and after", async () => {
  const { clock, leader, relay } = setup();
  const refused = await answer(clock, relay.heartbeat("gone", LOAD));
  assert.ok(refused.error instanceof FabricError && refused.error.code === "unauthorized", String(refused.error));

  leader.states.set("a", "ready");
  await answer(clock, relay.heartbeat("a", LOAD));
  leader.states.delete("a"); // removed at the leader
  relay.heartbeat("a", LOAD); // answered from what was known, and sent on
  await clock.tick(1000);
  const next = relay.heartbeat("a", LOAD);
  assert.ok(next instanceof Promise, "no longer known here: the leader answers");
  const after = await answer(clock, next);
  assert.ok(after.error instanceof FabricError && after.error.code === "unauthorized");
});

Deno.test("the leader away: no answer from what was known, 503 (never the leader's refusal of the follower), and the heartbeats it missed are sent when it is back", async () => {
  const { clock, leader, relay } = setup();
  leader.states.set("a", "ready");
  await answer(clock, relay.heartbeat("a", LOAD));
  leader.away = new FabricError("unauthorized", "The token was not accepted by this tracker");
  relay.heartbeat("a", LOAD);
  await clock.tick(1000); // the batch fails
  const during = relay.heartbeat("a", LOAD);
  assert.ok(during instanceof Promise, "the leader is away: nothing answered from what it said");
  const failed = await answer(clock, during);
  assert.ok(failed.error instanceof FabricError && failed.error.code === "unavailable", String(failed.error));

  leader.away = null;
  await clock.tick(100);
  const back = relay.heartbeat("a", LOAD);
  assert.deepEqual(await answer(clock, back), {
    value: { state: "ready", heartbeatMs: HEARTBEAT_MS, ttlMs: 6000, drainDeadline: null },
  });
});

Deno.test("a batch under way for longer than an interval: agents are answered only once the leader answers", async () => {
  const { clock, leader, relay } = setup();
  leader.states.set("a", "ready");
  await answer(clock, relay.heartbeat("a", LOAD));
  let release!: () => void;
  leader.hold = new Promise<void>((resolve) => release = resolve);
  relay.heartbeat("a", LOAD);
  await clock.tick(1000); // a batch goes, and hangs
  assert.ok(!(relay.heartbeat("a", LOAD) instanceof Promise), "under way for less than an interval");
  await clock.tick(1001);
  const waiting = relay.heartbeat("a", LOAD);
  assert.ok(waiting instanceof Promise, "a leader silent for over an interval is away");
  leader.hold = null;
  release();
  await clock.tick(0); // the hung batch is answered, then the waiting heartbeat is sent at once
  assert.equal((await answer(clock, waiting)).value?.state, "ready");
});

Deno.test("a batch that fails as this tracker takes over is not sent again: it leads, and relays nothing", async () => {
  const { clock, leader, relay } = setup();
  leader.states.set("a", "ready");
  await answer(clock, relay.heartbeat("a", LOAD));
  let release!: () => void;
  leader.hold = new Promise<void>((resolve) => release = resolve);
  leader.away = new FabricError("unavailable", "This tracker is taking over as the leader; try again");
  relay.heartbeat("a", LOAD);
  await clock.tick(1000); // a batch goes, and hangs
  relay.leaderChanged(true);
  release();
  await clock.tick(0); // it fails
  const sent = leader.batches.length;
  await clock.tick(10_000);
  assert.equal(leader.batches.length, sent, "no batch sent again while this tracker leads");
  assert.equal(clock.timers, 0, "no timer left");
});
