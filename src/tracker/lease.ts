/**
 * The holder's side of the leader's lease (store/lease.ts): take it when it is free or expired, renew
 * it every third of its time, and give it up on a stop. The store's clock decides who holds it; this
 * tracker's own clock only decides, conservatively, when to stop acting on it: a renewal sent at local
 * time T that the store granted for R ms lasts, here, until T + R less a margin (the store's time had
 * passed T when it granted it, and clocks run at slightly different rates). Past that, the tracker stops
 * leading even while the store cannot be reached, so it has stopped before anyone else can start.
 * (River and Oban elect a leader the same way, from a row with an expiry; the epoch that fences every
 * write is what they lack.)
 */
import type { Clock, TimerId } from "../protocol/mod.ts";
import type { Fence, LeaseState, LeaseStore } from "../store/mod.ts";
import { LeaseRenewer, STUCK_MS } from "./lease_renewer.ts";

/** The time the lease is taken for, by default (`fabric tracker --lease`). */
export const DEFAULT_LEASE_MS = 10_000;

export interface LeaseOptions {
  store: LeaseStore;
  /**
   * This tracker, as the store knows the holder: one name per data directory (data_dir.ts), so that a
   * tracker restarted takes back its own lease at once, under a new epoch.
   */
  holder: string;
  leaseMs: number;
  /** A monotonic clock (performance.now by default): the local deadline does not move with the wall clock. */
  clock?: Clock;
  /** This tracker now leads under `fence`; `expiring`: its lease must be renewed (false for SQLite's). */
  onLead: (fence: Fence, expiring: boolean) => void;
  /** This tracker no longer leads, and why. */
  onLose: (reason: string) => void;
  /** The holder seen changed (another tracker, this one, or null when none was seen). */
  onHolder?: (holder: string | null) => void;
  /**
   * With the monotonic clock and a store that names one (renewalSource), the lease is renewed from a
   * worker thread too (lease_renewer.ts), while this loop has turned within this long (STUCK_MS).
   */
  stuckMs?: number;
  log: (message: string) => void;
}

/** Monotonic milliseconds, and the timers. */
const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms) as unknown as TimerId,
  clearTimeout: (id) => clearTimeout(id),
};

export class Lease {
  #options: LeaseOptions;
  #clock: Clock;
  #fence: Fence | null = null;
  /** Local (monotonic) time until which this tracker may act on its lease. */
  #validUntil = 0;
  #deadline: TimerId | undefined;
  #next: TimerId | undefined;
  #attempt: Promise<void> | null = null;
  #stopped = false;
  #failing = false;
  /** Until the next attempt. */
  #waitMs = 0;
  /** The attempt whose answer counts; raised when it ends or is given up. */
  #round = 0;
  /** Who held it at the last look, for messages. */
  #seen: LeaseState | null = null;
  /** The worker renewing the lease held (lease_renewer.ts); null when none. */
  #renewer: LeaseRenewer | null = null;

  constructor(options: LeaseOptions) {
    this.#options = options;
    this.#clock = options.clock ?? monotonicClock;
  }

  /** Renewed this often; a follower looks this often too, or when the holder's lease ends if that is sooner. */
  get intervalMs(): number {
    return Math.max(1, Math.floor(this.#options.leaseMs / 3));
  }

  /** Kept off the end of the lease, locally: a fifth of it. */
  get marginMs(): number {
    return Math.floor(this.#options.leaseMs / 5);
  }

  /** Whether a worker thread renews the lease held (lease_renewer.ts), and has been granted it once. */
  get renewedByWorker(): boolean {
    return (this.#renewer?.validUntil ?? -Infinity) > -Infinity;
  }

  /** The fence while this tracker leads; null when it does not. */
  get fence(): Fence | null {
    return this.#fence;
  }

  /** The holder at the last look (this tracker's or another's), or null when none was seen. */
  get holder(): string | null {
    return this.#fence?.holder ?? this.#seen?.holder ?? null;
  }

  /** The first attempt, awaited (a start knows whether it leads); the next ones follow by themselves. */
  async start(): Promise<void> {
    await this.#run();
  }

  #run(): Promise<void> {
    this.#renewer?.checkIn();
    this.#clock.clearTimeout(this.#next);
    this.#next = undefined;
    if (this.#attempt) return this.#attempt;
    // An attempt the store does not answer is given up after a turn (its late answer is ignored), so
    // that a store that hangs is looked at again, and the local deadline goes on counting.
    const round = ++this.#round;
    let timer: TimerId | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = this.#clock.setTimeout(() => {
        if (!this.#failing) this.#options.log("the store did not answer about the lease in time");
        this.#failing = true;
        resolve();
      }, this.intervalMs);
    });
    this.#attempt = Promise.race([this.#try(round), timedOut]).finally(() => {
      this.#clock.clearTimeout(timer);
      this.#round++;
      this.#attempt = null;
      if (!this.#stopped) this.#schedule();
    });
    return this.#attempt;
  }

  #schedule(): void {
    if (this.#waitMs === Infinity) return; // a lease that never ends needs no renewing
    this.#clock.clearTimeout(this.#next);
    this.#next = this.#clock.setTimeout(() => void this.#run(), this.#waitMs);
  }

  async #try(round: number): Promise<void> {
    const { store, holder, leaseMs, log } = this.#options;
    const sentAt = this.#clock.now();
    this.#waitMs = this.intervalMs;
    const held = this.#fence;
    try {
      const state = held ? await store.renewLease(held, leaseMs) : await store.acquireLease(holder, leaseMs);
      if (round !== this.#round || this.#stopped) return; // answered too late: the next attempt decides
      if (this.#failing) log("the store answers about the lease again");
      this.#failing = false;
      if (held) {
        // Lost meanwhile (a refused write, the local deadline): the renewal changes nothing.
        if (this.#fence !== held) return;
        if (state === null) return this.lose("the store no longer has its lease (expired, or taken by another)");
        this.#extend(sentAt, state.remainingMs);
        return;
      }
      this.#seen = state;
      this.#notifyHolder();
      if (state?.holder === holder) {
        this.#fence = { holder, epoch: state.epoch };
        this.#notifyHolder();
        this.#startRenewer(this.#fence, state.remainingMs);
        this.#extend(sentAt, state.remainingMs);
        this.#options.onLead(this.#fence, state.remainingMs !== null);
      } else if (state?.remainingMs != null) {
        // Looked at again as soon as the holder's lease would end: a takeover comes right after it.
        this.#waitMs = Math.max(10, Math.min(this.intervalMs, state.remainingMs + 10));
      }
    } catch (error) {
      if (round !== this.#round) return;
      if (!this.#failing) log(`the lease could not be ${held ? "renewed" : "taken"}: ${(error as Error).message}`);
      this.#failing = true;
    }
  }

  #lastHolder: string | null = null;

  #notifyHolder(): void {
    const holder = this.holder;
    if (holder === this.#lastHolder) return;
    this.#lastHolder = holder;
    this.#options.onHolder?.(holder);
  }

  /** Act on the lease until the store's grant, as seen from here, runs out. */
  #extend(sentAt: number, remainingMs: number | null): void {
    this.#clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
    if (remainingMs === null) {
      this.#validUntil = Infinity;
      this.#waitMs = Infinity;
      return;
    }
    this.#validUntil = Math.max(this.#validUntil, sentAt + remainingMs - this.marginMs);
    if (this.#until() <= this.#clock.now()) return this.lose("its lease ran out before the store renewed it");
    this.#armDeadline();
  }

  /** The local deadline: this loop's latest grant's, or its worker's if that is later. */
  #until(): number {
    return Math.max(this.#validUntil, this.#renewer?.validUntil ?? -Infinity);
  }

  /** Lose the lease at the local deadline, unless a grant (the worker's, meanwhile) has moved it. */
  #armDeadline(): void {
    this.#clock.clearTimeout(this.#deadline);
    const left = this.#until() - this.#clock.now();
    if (left <= 0) {
      return this.lose(
        `its lease ran out by this tracker's clock (not renewed for ${this.#options.leaseMs - this.marginMs} ms)`,
      );
    }
    this.#deadline = this.#clock.setTimeout(() => this.#armDeadline(), left);
  }

  /** A worker renewing the lease just taken, where it can (see LeaseOptions.stuckMs). */
  #startRenewer(fence: Fence, remainingMs: number | null): void {
    this.#renewer?.stop();
    this.#renewer = null;
    const source = this.#options.store.renewalSource?.();
    if (!source || remainingMs === null || this.#options.clock) return;
    this.#renewer = new LeaseRenewer({
      source,
      fence,
      leaseMs: this.#options.leaseMs,
      marginMs: this.marginMs,
      intervalMs: this.intervalMs,
      stuckMs: this.#options.stuckMs ?? STUCK_MS,
      onLost: (reason) => {
        if (this.#fence === fence) this.lose(reason);
      },
      log: this.#options.log,
    });
  }

  /** Stop leading now (a fenced write was refused, or the lease ran out); tried again at the next turn. */
  lose(reason: string): void {
    const fence = this.#fence;
    if (!fence) return;
    this.#fence = null;
    this.#seen = null;
    this.#renewer?.stop();
    this.#renewer = null;
    this.#validUntil = 0;
    this.#notifyHolder();
    this.#clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#options.log(`this tracker (${fence.holder}) no longer leads (epoch ${fence.epoch}): ${reason}`);
    this.#options.onLose(reason);
    if (this.#waitMs === Infinity) this.#waitMs = this.intervalMs;
    if (!this.#stopped && !this.#attempt) this.#schedule();
  }

  /** No more attempts; the lease, if held, is let go in the store so that another tracker takes it at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#renewer?.stop();
    this.#renewer = null;
    this.#clock.clearTimeout(this.#next);
    this.#clock.clearTimeout(this.#deadline);
    await this.#attempt;
    const fence = this.#fence;
    this.#fence = null;
    if (fence) {
      await this.#options.store.releaseLease(fence).catch((error) => {
        this.#options.log(`the lease could not be let go (it expires by itself): ${(error as Error).message}`);
      });
    }
  }
}
