/** What a running tracker (server.ts) is started with: where it keeps its data and listens, and its settings. */
import type { StoreSync } from "../store/mod.ts";

export interface TrackerServerOptions {
  dataDir: string;
  hostname: string;
  port: number;
  /** Extra names or addresses agents use to reach the tracker: they go into the certificate. */
  advertise?: string[];
  heartbeatMs?: number;
  ttlMs?: number;
  graceMs?: number;
  /** "full": every commit waits for the disk (survives a power loss); "normal" (default): a killed tracker. */
  sync?: StoreSync;
  /** Connections held at once; by default the descriptor limit less a reserve (http/connection_cap.ts). */
  maxConnections?: number;
  /** A postgres:// URL: the store is that database (the CA and tokens too); SQLite in `dataDir` otherwise. */
  store?: string;
  /** New agents joining with the join token wait for `fabric agents approve NAME`. */
  approveAgents?: boolean;
  /** Ended jobs are deleted this long after they ended (default 7 days); 0 keeps everything. */
  retentionMs?: number;
  /** Audit entries are deleted this long after they were recorded (default 90 days); 0 keeps them all. */
  auditRetentionMs?: number;
  /** Bytes of output one job may store (default 1 GiB); 0: no cap. */
  maxJobLogs?: number;
  /** Revisions of channel history kept for watches (default 10,000). */
  channelHistory?: number;
  /** Serve /metrics, /healthz and /readyz without a token over plain HTTP here too. */
  metricsListen?: { hostname: string; port: number };
  /** How long the leader's lease lasts without a renewal (a store several trackers share; default 10 s). */
  leaseMs?: number;
  /** Announce the trackers on the local networks (announcer.ts). */
  announce?: boolean;
  log?: (message: string) => void;
}
