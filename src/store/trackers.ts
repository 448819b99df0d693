/**
 * The trackers that share a store, each heartbeating its own row, so that any of them can tell agents
 * and clients where the others are, and a follower where the leader is (the lease names its holder,
 * this list its address). A store of one tracker (SQLite) keeps just that one, in memory.
 */

/** What a tracker says of itself. */
export interface TrackerRecord {
  id: string;
  /** `https://HOST:PORT`, as agents and the other trackers reach it. */
  url: string;
  version: string;
  startedAt: number;
}

/** A tracker as the store has it. */
export interface TrackerState extends TrackerRecord {
  /** Its last heartbeat, by the store's clock. */
  lastSeen: number;
  /** It holds the lease now (an unexpired one). */
  leads: boolean;
}

export interface TrackerRegistry {
  /** Write this tracker's row, seen now (by the store's clock). */
  heartbeatTracker(tracker: TrackerRecord): Promise<void>;
  /** Every tracker's row, the one that leads marked. */
  listTrackers(): Promise<TrackerState[]>;
}
