/**
 * The lease the tracker that places work holds, in a store several trackers share: one row (`leases`,
 * name "leader") with its holder, an epoch raised each time the lease changes hands, and an expiry in
 * the store's own time (never a tracker's clock). Every batch the leader writes carries its fence
 * (holder and epoch), and the store refuses it, in the same transaction, once the lease has moved on
 * or expired: a tracker paused or cut off past its lease can never overwrite its successor's
 * decisions. The holder's side (renewing, stepping down) is tracker/lease.ts.
 */
import { FabricError } from "../protocol/mod.ts";

/** What a write is fenced by: it lands only while `holder` holds the lease at `epoch`. */
export interface Fence {
  holder: string;
  epoch: number;
}

/** The lease as the store has it after an attempt to take or renew it. */
export interface LeaseState {
  holder: string;
  epoch: number;
  /** What it still has, by the store's clock; null for a lease that never ends (SQLite: one tracker alone). */
  remainingMs: number | null;
}

export interface LeaseStore {
  /**
   * Take the lease for `ms` if it is free, expired, or `holder`'s own (its epoch is raised either way),
   * and answer the lease as it is then: `holder`'s, or the one who holds it (null if nobody could be read).
   */
  acquireLease(holder: string, ms: number): Promise<LeaseState | null>;
  /** Extend the lease by `ms` from now while it is still `fence`'s and has not expired; null once it is not. */
  renewLease(fence: Fence, ms: number): Promise<LeaseState | null>;
  /** Let the lease go at once (a tracker stopping), if it is still `fence`'s. */
  releaseLease(fence: Fence): Promise<void>;
  /**
   * Where a worker thread may renew the lease on a connection of its own (tracker/lease_worker.ts);
   * absent for a store whose lease never ends (SQLite's).
   */
  renewalSource?(): LeaseRenewalSource;
}

/** A fenced write refused: the writer no longer leads, and must stop acting as if it did. */
export class LeaseLostError extends FabricError {
  constructor(message: string) {
    super("unavailable", message);
    this.name = "LeaseLostError";
  }
}

/** What a worker needs to open a lease's connection of its own to the same store (tracker/lease_worker.ts). */
export interface LeaseRenewalSource {
  url: string;
  /** The store's --sync (sqlite_open.ts's StoreSync). */
  sync?: "normal" | "full";
  applicationName?: string;
}
