/**
 * The lease renewed from a worker thread (lease_renewer.ts) on a real PostgreSQL: a leader whose event
 * loop is held longer than its lease (2 s, so 1.6 s by its own clock) keeps it (it lost it before the
 * worker: seen failing with the worker left out), and one held longer than the bound on a stuck loop
 * loses it, so that another takes it. Not the shortest lease: the worker's renewals must not come late
 * on a busy machine running other tests.
 */
import assert from "node:assert/strict";
import { lacks } from "../../testing/machine.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { waitFor } from "../../testing/process.ts";
import { PostgresStore } from "../store/mod.ts";
import { Lease } from "./lease.ts";

/** This thread busy for `ms`: no timer fires, no answer is read. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* held */ }
}

async function leading(store: PostgresStore, options: { stuckMs?: number } = {}) {
  const lost: string[] = [];
  const lines: string[] = [];
  let led = false;
  const lease = new Lease({
    store,
    holder: "renewer-test",
    leaseMs: 2000,
    stuckMs: options.stuckMs,
    onLead: () => led = true,
    onLose: (reason) => lost.push(reason),
    log: (line) => lines.push(line),
  });
  await lease.start();
  assert.ok(led, "it took the lease");
  // The worker's first grant (its thread and connection take a moment to start).
  await waitFor("the worker's first renewal", () => lease.renewedByWorker, { timeoutMs: 20_000, intervalMs: 50 });
  return { lease, lost, lines };
}

Deno.test({
  name:
    "a leader whose event loop is held 4 s keeps a 2 s lease (renewed by its worker); one held past the bound loses it",
  ignore: lacks("postgres"),
  fn: async () => {
    const server = await PostgresServer.start();
    try {
      const url = await server.createDatabase();
      const store = await PostgresStore.open(url, { fenced: true });
      try {
        const held = await leading(store);
        const epoch = held.lease.fence!.epoch;
        block(4000); // past its 1.6 s by its own clock, twice past the lease in the store
        await new Promise((resolve) => setTimeout(resolve, 50)); // the deadline's timer, overdue, fires now
        assert.deepEqual(held.lost, [], held.lines.join("\n"));
        assert.equal(held.lease.fence?.epoch, epoch);
        const seen = await store.acquireLease("someone-else", 2000);
        assert.deepEqual([seen?.holder, seen?.epoch], ["renewer-test", epoch], "another could take it");
        await held.lease.stop();

        // Stuck past the bound (1 s here, 30 s by default): the worker stops renewing, the lease ends,
        // though the worker alone would have kept it through 5 s as it did through 4.
        const stuck = await leading(store, { stuckMs: 1000 });
        block(5000);
        await waitFor("the stuck leader to lose its lease", () => stuck.lost.length > 0, {
          timeoutMs: 10_000,
          intervalMs: 50,
        });
        // (Its worker says why, "the tracker's event loop has not turned for 1 s", unless it is stopped first.)
        assert.equal(stuck.lease.fence, null);
        await stuck.lease.stop();
        assert.equal((await store.acquireLease("someone-else", 2000))?.holder, "someone-else");
      } finally {
        await store.close();
      }
    } finally {
      await server.stop();
    }
  },
});
