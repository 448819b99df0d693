/**
 * The leader's lease renewed from a worker thread as well (lease_worker.ts), on a connection of its own,
 * so that keeping the lease does not depend on this thread's event loop turning every few hundred ms:
 * the collector's pauses and a busy machine hold it up to several hundred ms even when no pass over
 * tasks does (slices.ts), and with a short `--lease` that cost the leader its lease (issue #17).
 *
 * The worker renews only while this thread has checked in recently (`checkIn`, at each of its own
 * renewals, every third of the lease): a tracker whose loop has not turned for STUCK_MS is stuck, not
 * paused, and must lose its lease, or its work waits on it for ever. Each grant's local deadline is
 * written to memory the two threads share, where Lease reads it, synchronously, when its own deadline
 * comes. The two threads' monotonic clocks have different origins: each check-in carries this thread's
 * time, and the worker, seeing it at its next look (every 25 ms), bounds how far its clock is ahead; it
 * writes each deadline in this thread's time, no later than it truly is. Fencing is unchanged: the
 * worker renews only the epoch this tracker leads by, and every write still carries it.
 */
import type { Fence, LeaseRenewalSource } from "../store/mod.ts";

/** A loop that has not turned for this long is stuck: its lease is no longer renewed. */
export const STUCK_MS = 30_000;

/** Slots of the shared memory: this thread's last check-in, and the worker's latest grant's deadline, both by this thread's clock. */
export const CHECKIN = 0;
export const GRANT = 1;
/** In GRANT until the first grant. */
export const NO_GRANT = -(2n ** 62n);

export interface RenewerOptions {
  source: LeaseRenewalSource;
  fence: Fence;
  leaseMs: number;
  marginMs: number;
  intervalMs: number;
  stuckMs: number;
  /** The worker found the lease gone from the store. */
  onLost: (reason: string) => void;
  log: (message: string) => void;
}

/** What the worker is told to start with (lease_worker.ts): the options it can be sent, and the memory. */
export type RenewerStart = Omit<RenewerOptions, "onLost" | "log"> & {
  type: "start";
  shared: SharedArrayBuffer;
  /** This thread's clock when it sent this: the worker's clock, on reading it, is at most that much ahead. */
  sentAt: number;
};

export class LeaseRenewer {
  #shared = new BigInt64Array(new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT));
  #worker: Worker | null;

  constructor(options: RenewerOptions) {
    Atomics.store(this.#shared, GRANT, NO_GRANT);
    this.checkIn();
    const worker = this.#worker = new Worker(new URL("./lease_worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (event: MessageEvent) => {
      const message = event.data;
      if (message.type === "lost") options.onLost(message.reason);
      else if (message.type === "log") options.log(message.message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      options.log(`the lease's worker failed (the lease is renewed by the tracker's loop alone): ${event.message}`);
      this.stop();
    };
    const start: RenewerStart = {
      type: "start",
      ...{ source: options.source, fence: options.fence, leaseMs: options.leaseMs, marginMs: options.marginMs },
      ...{ intervalMs: options.intervalMs, stuckMs: options.stuckMs, shared: this.#shared.buffer as SharedArrayBuffer },
      sentAt: performance.now(),
    };
    worker.postMessage(start);
  }

  /** This thread's loop turns (now, by its clock): the worker may go on renewing. */
  checkIn(): void {
    Atomics.store(this.#shared, CHECKIN, BigInt(Math.floor(performance.now())));
  }

  /** The local deadline of the worker's latest grant, by this thread's clock (performance.now); -Infinity while none. */
  get validUntil(): number {
    const grant = Atomics.load(this.#shared, GRANT);
    return grant === NO_GRANT ? -Infinity : Number(grant);
  }

  /** No more renewals (this tracker lost its lease, or stops). */
  stop(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }
}
