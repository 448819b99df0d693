/** What a Tracker is made with: its store, its time and ids (injected in tests), and its operating settings. */
import type { Clock } from "../protocol/mod.ts";
import type { Fence, LeaseLostError, Store } from "../store/mod.ts";
import type { SecretKey } from "./secret_key.ts";

export interface TrackerOptions {
  store: Store;
  /** The time and the timers of the store writer and of retries' backoff (the system's by default). */
  clock?: Clock;
  newId?: () => string;
  /** How often agents heartbeat. */
  heartbeatMs?: number;
  /** Silence after which an agent is down and its tasks are lost. */
  ttlMs?: number;
  /** Time between SIGTERM and SIGKILL when a task is stopped. */
  graceMs?: number;
  /** Longest a long poll is held. */
  maxWaitMs?: number;
  /** Randomness for `select: random` (injected so placement is reproducible in tests). */
  random?: () => number;
  /** New agents joining with the join token wait for `fabric agents approve NAME` before they get work. */
  approveAgents?: boolean;
  /** Ended jobs are deleted this long after they ended (default 7 days); 0 keeps everything. */
  retentionMs?: number;
  /** Audit entries are deleted this long after they were recorded (default 90 days); 0 keeps them all. */
  auditRetentionMs?: number;
  /** Bytes of output one job may store (default 1 GiB); 0: no cap. */
  maxJobLogs?: number;
  /** Revisions of channel history kept for watches (tracker/channels.ts, default 10,000). */
  channelHistory?: number;
  /** The lease this tracker leads by: every write is fenced by it (a store several trackers share). */
  fence?: Fence;
  /** A fenced write was refused: this tracker no longer leads, and must stop acting now. */
  onLeaseLost?: (error: LeaseLostError) => void;
  /** The trackers' CA hash, once known: a rotated join token names it (protocol/announce.ts). */
  caHash?: () => string | undefined;
  /** What seals secrets (the data directory's secrets.key); a random one of its own if none. */
  secretsKey?: SecretKey;
  log?: (message: string) => void;
}
