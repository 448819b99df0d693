/**
 * Which tracker places work, and the Tracker that does it here. The one holding the lease (lease.ts)
 * runs a Tracker loaded from the store, as a restart would load it, with every write fenced by the
 * lease; when it loses the lease (a refused write, a renewal refused, its own deadline) it drops that
 * Tracker at once, writing nothing more, and follows. Taking the lease again loads a new Tracker: the
 * one it dropped may have missed what a successor did meanwhile.
 */
import type { Fence, LeaseLostError, Store } from "../store/mod.ts";
import { Lease } from "./lease.ts";
import type { Tracker } from "./tracker.ts";

export interface LeadershipOptions {
  store: Store;
  /** This tracker, as the lease's holder. */
  holder: string;
  leaseMs: number;
  /** A Tracker loaded from the store and fenced by `fence`; `lost` is for its refused writes. */
  open: (fence: Fence, lost: (error: LeaseLostError) => void) => Promise<Tracker>;
  /** The lease's holder changed, as this tracker last saw it (null: none seen). */
  onHolder?: (holder: string | null) => void;
  /** What runs while a Tracker leads here (the liveness sweep): started with it; the answer stops it. */
  whileLeading?: (tracker: Tracker) => () => void;
  log: (message: string) => void;
}

interface Leading {
  tracker: Tracker;
  fence: Fence;
  stop: () => void;
}

export class Leadership {
  #options: LeadershipOptions;
  #lease: Lease;
  #leading: Leading | null = null;
  #opening: Promise<void> | null = null;
  #starting = false;
  #startError: unknown = null;

  constructor(options: LeadershipOptions) {
    this.#options = options;
    this.#lease = new Lease({
      store: options.store,
      holder: options.holder,
      leaseMs: options.leaseMs,
      log: options.log,
      onLead: (fence, expiring) => this.#lead(fence, expiring),
      onLose: (reason) => this.#follow(reason),
      onHolder: options.onHolder,
    });
  }

  /**
   * The first look at the lease, and the Tracker loaded if this tracker took it. A store that cannot be
   * loaded then fails the start (later, a takeover that cannot load is tried again).
   */
  async start(): Promise<void> {
    this.#starting = true;
    try {
      await this.#lease.start();
      await this.#opening;
    } finally {
      this.#starting = false;
    }
    if (this.#startError) {
      await this.#lease.stop();
      throw this.#startError;
    }
  }

  /** The Tracker that places work here; null while this tracker follows (or is still loading). */
  get tracker(): Tracker | null {
    return this.#leading?.tracker ?? null;
  }

  /** The lease's holder at the last look (this tracker or another), or null when none was seen. */
  get holder(): string | null {
    return this.#lease.holder;
  }

  #lead(fence: Fence, expiring: boolean): void {
    const { open, log, whileLeading } = this.#options;
    const opening = (async () => {
      const started = performance.now();
      let tracker: Tracker;
      try {
        tracker = await open(fence, (error) => this.#lease.lose(error.message));
      } catch (error) {
        if (this.#starting) this.#startError = error;
        else log(`could not load the store to lead: ${(error as Error).message}`);
        this.#lease.lose("it could not load the store");
        return;
      }
      if (this.#lease.fence !== fence) {
        tracker.abandon("it lost its lease while loading the store");
        return;
      }
      this.#leading = { tracker, fence, stop: whileLeading?.(tracker) ?? (() => {}) };
      // A lease that never ends (SQLite's one tracker) is not news.
      if (expiring) {
        const ms = Math.round(performance.now() - started);
        log(`this tracker (${fence.holder}) leads (epoch ${fence.epoch}); the store's state loaded in ${ms} ms`);
      }
    })();
    const settled: Promise<void> = opening.finally(() => {
      if (this.#opening === settled) this.#opening = null;
    });
    this.#opening = settled;
  }

  #follow(reason: string): void {
    const leading = this.#leading;
    this.#leading = null;
    if (!leading) return;
    leading.stop();
    leading.tracker.abandon(reason);
  }

  /** Answer every long poll now (the server is closing). */
  releaseWaiters(): void {
    this.#leading?.tracker.releaseWaiters();
  }

  /** Stop: a Tracker that leads writes what it has while it still holds the lease, then the lease is let go. */
  async stop(): Promise<void> {
    await this.#opening;
    const leading = this.#leading;
    if (leading) {
      leading.stop();
      await leading.tracker.stop();
    }
    await this.#lease.stop();
    this.#leading = null;
  }
}
