/**
 * The follower's claim relay against the leader's pools, in one process: each request goes through
 * JSON as it would over HTTP, to the ClaimPools of whichever "leader" leads now. The leader's claim is
 * a small stand-in (work queued per agent); the hot tests (tests/hot_claims_test.ts) run the real one.
 */
import assert from "node:assert/strict";
import {
  type ClaimRequest,
  type ClaimResponse,
  FabricError,
  type PooledClaims,
  pooledClaimsSchema,
  systemClock,
} from "../protocol/mod.ts";
import { ClaimPools } from "./claim_pools.ts";
import { ClaimRelay } from "./claim_relay.ts";
import { Wakeup } from "./wakeup.ts";

/** A leader's side: work queued per agent, handed to the agent's claim as its own claim would be. */
class Leader {
  work = new Map<string, string[]>();
  wakeup = new Wakeup();
  claims = 0;
  pools = new ClaimPools({ clock: systemClock, closing: () => false, claim: (a, h, r, s) => this.#claim(a, h, r, s) });

  give(agentId: string, taskId: string): void {
    this.work.set(agentId, [...(this.work.get(agentId) ?? []), taskId]);
    this.wakeup.notify();
  }

  async #claim(agentId: string, hash: string, request: ClaimRequest, signal: AbortSignal): Promise<ClaimResponse> {
    if (agentId === "removed") throw new FabricError("unauthorized", `Agent "${agentId}" was removed`);
    if (hash !== HASH) throw new FabricError("unauthorized", "The token was not accepted by this tracker");
    this.claims++;
    const deadline = Date.now() + request.waitMs;
    for (;;) {
      const queued = this.work.get(agentId) ?? [];
      if (queued.length > 0) {
        this.work.delete(agentId);
        return { assignments: queued.map((taskId) => ({ taskId }) as never), stop: [] };
      }
      if (signal.aborted || Date.now() >= deadline) return { assignments: [], stop: [] };
      await this.wakeup.wait(deadline - Date.now(), signal);
    }
  }
}

function relayTo(leader: () => Leader, refused: string[] = []): ClaimRelay {
  return new ClaimRelay({
    refused: (agentId) => refused.push(agentId),
    send: async (request: PooledClaims) => {
      const parsed = pooledClaimsSchema.parse(JSON.parse(JSON.stringify(request)));
      return JSON.parse(JSON.stringify(await leader().pools.handle(parsed)));
    },
  });
}

/** The hash of the credential the follower accepted (the stand-in leader knows only this one). */
const HASH = "the-hash";

const tasks = (response: ClaimResponse) => response.assignments.map((a) => a.taskId);

Deno.test("claims held by a follower get their agents' work from the leader's pool; an agent gone is no longer waited for; a removed agent is refused", async () => {
  const leader = new Leader();
  const refused: string[] = [];
  const relay = relayTo(() => leader, refused);
  try {
    const a1 = relay.claim("a1", HASH, { holding: [], waitMs: 5000 });
    const a2 = relay.claim("a2", HASH, { holding: [], waitMs: 5000 });
    while (leader.pools.waiting < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    leader.give("a2", "t2");
    assert.deepEqual(tasks(await a2), ["t2"], "a2's work, to a2");
    leader.give("a1", "t1");
    assert.deepEqual(tasks(await a1), ["t1"]);

    // An agent that goes away: the leader stops waiting for it, and its work waits for its next claim.
    const gone = new AbortController();
    const a3 = relay.claim("a3", HASH, { holding: [], waitMs: 5000 }, gone.signal);
    while (leader.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    gone.abort();
    assert.deepEqual(tasks(await a3), []);
    while (leader.pools.waiting > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    leader.give("a3", "t3");
    assert.deepEqual(tasks(await relay.claim("a3", HASH, { holding: [], waitMs: 5000 })), ["t3"], "on its next claim");

    // A newer claim of an agent answers its older one, empty.
    const older = relay.claim("a4", HASH, { holding: [], waitMs: 5000 });
    const newer = relay.claim("a4", HASH, { holding: [], waitMs: 5000 });
    assert.deepEqual(tasks(await older), []);
    leader.give("a4", "t4");
    assert.deepEqual(tasks(await newer), ["t4"]);

    await assert.rejects(relay.claim("removed", HASH, { holding: [], waitMs: 5000 }), /was removed/);
    // A credential the leader no longer takes (its agent registered again): refused, and forgotten here.
    await assert.rejects(relay.claim("a6", "an-old-hash", { holding: [], waitMs: 5000 }), /not accepted/);
    assert.deepEqual(refused, ["removed", "a6"]);
    // A wait that runs out is answered empty.
    assert.deepEqual(tasks(await relay.claim("a5", HASH, { holding: [], waitMs: 50 })), []);
  } finally {
    relay.close();
    leader.pools.release();
  }
});

Deno.test("when the leader changes, a claim the old leader took is answered empty and the agent's next claim goes to a new pool at the new leader; when this tracker takes over, claims are told to try again", async () => {
  const first = new Leader();
  const second = new Leader();
  let leading = first;
  const relay = relayTo(() => leading);
  try {
    const waiting = relay.claim("a1", HASH, { holding: [], waitMs: 5000 });
    while (first.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    leading = second;
    relay.leaderChanged(false);
    // Not carried over: what it names as held is as of its opening, and the new leader would send again
    // what the agent ran since. Answered empty (never a refusal that sends the agent elsewhere).
    assert.deepEqual(tasks(await waiting), []);
    const next = relay.claim("a1", HASH, { holding: [], waitMs: 5000 });
    while (second.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    second.give("a1", "t1");
    assert.deepEqual(tasks(await next), ["t1"], "its next claim, served by the new leader");

    // The leader forgets the pool (as one that took over and was never told of it): a new pool.
    const held = relay.claim("a2", HASH, { holding: [], waitMs: 5000 });
    while (second.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const third = new Leader();
    leading = third;
    // No word of a change reaches the relay: its poll is answered, and the next finds the pool unknown.
    second.pools.release();
    assert.deepEqual(tasks(await held), [], "answered empty: the pool it was in is gone");
    const again = relay.claim("a2", HASH, { holding: [], waitMs: 5000 });
    while (third.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    third.give("a2", "t2");
    assert.deepEqual(tasks(await again), ["t2"], "a2's next claim, in the pool made again");

    // This tracker takes over: what it holds is told to try again (it answers claims itself now).
    const late = relay.claim("a3", HASH, { holding: [], waitMs: 5000 });
    while (third.pools.waiting < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    relay.leaderChanged(true);
    await assert.rejects(
      late,
      (error: FabricError) => error.code === "unavailable" && /taking over/.test(error.message),
    );
  } finally {
    relay.close();
    for (const leader of [first, second, leading]) leader.pools.release();
  }
});
