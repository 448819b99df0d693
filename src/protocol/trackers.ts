/** The trackers that share one store (`GET /v1/trackers`, `fabric trackers`): what agents and clients learn the list from. */

export interface TrackerView {
  /** The tracker's name (kept in its data directory). */
  id: string;
  /** Where agents and clients reach it: `https://HOST:PORT`. */
  url: string;
  /** "leader" for the one that holds the lease (places work), else "follower". */
  role: "leader" | "follower";
  version: string;
  startedAt: string;
  /** Its last heartbeat in the store (every few seconds while it runs). */
  lastSeen: string;
}

export interface TrackersResponse {
  trackers: TrackerView[];
  /** The tracker that answered (its own address may not be the one the caller used: a proxy, a name). */
  answeredBy: string;
}

/** A tracker not heard from for this long is left out of the lists agents learn, and of the join command. */
export const STALE_TRACKER_MS = 5 * 60_000;
