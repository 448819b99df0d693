/**
 * The worker thread that renews the leader's lease (lease_renewer.ts): every third of the lease, on a
 * connection of its own, as long as the tracker's loop checked in within `stuckMs`; each grant's local
 * deadline (the renewal's send time, plus what the store granted, less the margin, by this thread's
 * clock) goes to the shared memory. It stops at the first refusal (the lease is gone: the tracker is
 * told) or once the tracker's loop is stuck.
 */
/// <reference lib="deno.worker" />
import { poolSettings, PostgresLease } from "../store/mod.ts";
import { CHECKIN, GRANT, type RenewerStart } from "./lease_renewer.ts";

self.onmessage = (event: MessageEvent) => {
  const message = event.data;
  if (message.type === "start") void renew(message as RenewerStart, performance.now());
};

function log(message: string): void {
  self.postMessage({ type: "log", message });
}

/** How often the tracker's check-ins are looked at, between renewals. */
const LOOK_MS = 25;

/** `receivedAt`: this thread's clock when it was told to start, no earlier than `start.sentAt` there. */
async function renew(start: RenewerStart, receivedAt: number): Promise<void> {
  const shared = new BigInt64Array(start.shared);
  // This clock minus the tracker's, at most: a deadline here is at most this much later there. Bounded
  // by the start message, then by each check-in (the tracker's time, seen here at the first look after
  // it): a thread slow to start (its modules) must not keep the first bound's seconds, so that no
  // deadline is written before a check-in has bounded it (the tracker's loop renews meanwhile).
  let ahead = receivedAt - start.sentAt;
  let bounded = false;
  // The tracker's loop last turned no earlier than `turned`: the look before the one that saw a new
  // check-in (at the start, when this thread was told to start: later, by how long it took to start,
  // which a bound of seconds does not notice).
  let checkedIn = Atomics.load(shared, CHECKIN);
  let turned = receivedAt;
  let lastLook = receivedAt;
  const look = (): number => {
    const now = performance.now();
    const seen = Atomics.load(shared, CHECKIN);
    if (seen !== checkedIn) {
      checkedIn = seen;
      turned = lastLook;
      ahead = Math.min(ahead, now - Number(seen));
      bounded = true;
    }
    lastLook = now;
    return now;
  };
  const lease = new PostgresLease(start.source.url, poolSettings(start.source));
  let failing = false;
  try {
    for (;;) {
      const now = look();
      if (now - turned > start.stuckMs) {
        log(
          `the tracker's event loop has not turned for ${Math.round((now - turned) / 1000)} s: ` +
            "its lease's worker no longer renews it",
        );
        return;
      }
      const sentAt = performance.now();
      try {
        const state = await lease.renew(start.fence, start.leaseMs);
        if (state === null) {
          self.postMessage({
            type: "lost",
            reason: "the store no longer has its lease (expired, or taken by another)",
          });
          return;
        }
        look();
        if (state.remainingMs !== null && bounded) {
          const until = BigInt(Math.floor(sentAt + state.remainingMs - start.marginMs - ahead));
          if (until > Atomics.load(shared, GRANT)) Atomics.store(shared, GRANT, until);
        }
        if (failing) log("the lease's worker renews it again");
        failing = false;
      } catch (error) {
        if (!failing) log(`the lease's worker could not renew it: ${(error as Error).message}`);
        failing = true;
      }
      const next = sentAt + start.intervalMs;
      for (let left = next - look(); left > 0; left = next - look()) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(LOOK_MS, left)));
      }
    }
  } finally {
    await lease.close().catch(() => {});
  }
}
