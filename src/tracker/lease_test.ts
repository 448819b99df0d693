import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";
import type { Fence, LeaseState, LeaseStore } from "../store/mod.ts";
import { Lease } from "./lease.ts";

/** The store's side as PostgresStore keeps it, on the test's clock (the store's own time). */
class LeaseRow implements LeaseStore {
  row: { holder: string; epoch: number; expiresAt: number } | null = null;
  /** While set, every call fails (or never answers): the store cannot be reached. */
  down: "refused" | "silent" | null = null;
  calls = 0;
  constructor(readonly clock: FakeClock) {}

  #reach(): Promise<void> {
    this.calls++;
    if (this.down === "refused") return Promise.reject(new Error("connect ECONNREFUSED"));
    if (this.down === "silent") return new Promise(() => {});
    return Promise.resolve();
  }
  async acquireLease(holder: string, ms: number): Promise<LeaseState | null> {
    await this.#reach();
    const now = this.clock.now();
    if (!this.row || this.row.expiresAt <= now || this.row.holder === holder) {
      this.row = { holder, epoch: (this.row?.epoch ?? 0) + 1, expiresAt: now + ms };
    }
    return { holder: this.row.holder, epoch: this.row.epoch, remainingMs: this.row.expiresAt - now };
  }
  async renewLease(fence: Fence, ms: number): Promise<LeaseState | null> {
    await this.#reach();
    const now = this.clock.now();
    const row = this.row;
    if (!row || row.holder !== fence.holder || row.epoch !== fence.epoch || row.expiresAt <= now) return null;
    row.expiresAt = now + ms;
    return { ...fence, remainingMs: ms };
  }
  async releaseLease(fence: Fence): Promise<void> {
    await this.#reach();
    if (this.row?.holder === fence.holder && this.row.epoch === fence.epoch) this.row.expiresAt = 0;
  }
}

function tracker(store: LeaseStore, clock: FakeClock, holder: string) {
  const events: string[] = [];
  const lease = new Lease({
    store,
    holder,
    leaseMs: 9000,
    clock,
    onLead: (fence) => events.push(`lead ${fence.epoch} at ${clock.now() - START}`),
    onLose: () => events.push(`lose at ${clock.now() - START}`),
    log: () => {},
  });
  return { lease, events };
}

const START = 1_700_000_000_000;

Deno.test("a free lease is taken, renewed every third of its time, and let go on a stop", async () => {
  const clock = new FakeClock(START);
  const store = new LeaseRow(clock);
  const { lease, events } = tracker(store, clock, "a");
  await lease.start();
  assert.deepEqual(lease.fence, { holder: "a", epoch: 1 });
  await clock.tick(60_000);
  assert.deepEqual(events, ["lead 1 at 0"]);
  assert.equal(store.calls, 1 + 60_000 / 3000, "a renewal every 3 s");
  assert.equal(store.row!.expiresAt, clock.now() + 9000);
  await lease.stop();
  assert.equal(store.row!.expiresAt, 0, "let go: another takes it at once");
  assert.equal(clock.timers, 0);
});

Deno.test("a follower takes the lease as soon as its holder's has ended, under the next epoch", async () => {
  const clock = new FakeClock(START);
  const store = new LeaseRow(clock);
  const a = tracker(store, clock, "a");
  const b = tracker(store, clock, "b");
  await a.lease.start();
  await clock.tick(1000);
  await b.lease.start();
  assert.equal(b.lease.fence, null);
  assert.equal(b.lease.holder, "a");
  await a.lease.stop(); // let go: b looks again within a third of the lease
  await clock.tick(3000);
  assert.deepEqual(b.events, ["lead 2 at 4000"]);
  // Its holder killed: it is taken right after the lease ends, not up to a third of it later.
  const c = tracker(store, clock, "c");
  await c.lease.start();
  await clock.tick(1000);
  const killedAt = clock.now() - START;
  await b.lease.stop();
  store.row!.expiresAt = clock.now() + 9000; // b's last renewal, just before its kill (it never let go)
  await clock.tick(9000 + 20);
  assert.deepEqual(c.events, [`lead 3 at ${killedAt + 9010}`]);
  await c.lease.stop();
});

for (const down of ["refused", "silent"] as const) {
  Deno.test(`a leader that cannot reach the store (${down}) stops leading by its own clock before the lease ends there`, async () => {
    const clock = new FakeClock(START);
    const store = new LeaseRow(clock);
    const { lease, events } = tracker(store, clock, "a");
    await lease.start();
    await clock.tick(3000); // renewed at 3000: the store's lease ends at 12000
    store.down = down;
    await clock.tick(20_000);
    // Its own deadline: the renewal sent at 3000, for 9000 ms, less a fifth of it.
    assert.deepEqual(events, ["lead 1 at 0", "lose at 10200"]);
    assert.ok(10_200 < 12_000, "before anyone can take it in the store");
    assert.equal(lease.fence, null);
    // Tried again every 3 s from its deadline on (a silent store's attempts given up after 3 s each).
    store.down = null;
    await clock.tick(3000);
    assert.deepEqual(events.at(-1), "lead 2 at 25200", "back, it takes the expired lease under a new epoch");
    await lease.stop();
  });
}

Deno.test("a renewal the store refuses (the lease was taken) ends leadership at once", async () => {
  const clock = new FakeClock(START);
  const store = new LeaseRow(clock);
  const { lease, events } = tracker(store, clock, "a");
  await lease.start();
  store.row = { holder: "b", epoch: 2, expiresAt: clock.now() + 9000 };
  await clock.tick(3000);
  assert.deepEqual(events, ["lead 1 at 0", "lose at 3000"]);
  await clock.tick(3000);
  assert.equal(lease.holder, "b", "the next look finds who holds it");
  // A refused write says the same, sooner: lose() from outside.
  store.row.expiresAt = 0;
  await clock.tick(3000);
  assert.deepEqual(events.at(-1), "lead 3 at 9000");
  lease.lose("a fenced write was refused");
  assert.deepEqual(events.at(-1), "lose at 9000");
  await lease.stop();
});

Deno.test("a lease that never ends (one tracker on SQLite) is taken once and never renewed", async () => {
  const clock = new FakeClock(START);
  const calls: string[] = [];
  const store: LeaseStore = {
    acquireLease: (holder) => (calls.push("acquire"), Promise.resolve({ holder, epoch: 1, remainingMs: null })),
    renewLease: (fence) => (calls.push("renew"), Promise.resolve({ ...fence, remainingMs: null })),
    releaseLease: () => (calls.push("release"), Promise.resolve()),
  };
  const { lease, events } = tracker(store, clock, "only");
  await lease.start();
  assert.equal(clock.timers, 0);
  await clock.tick(3_600_000);
  assert.deepEqual(events, ["lead 1 at 0"]);
  await lease.stop();
  assert.deepEqual(calls, ["acquire", "release"]);
});
