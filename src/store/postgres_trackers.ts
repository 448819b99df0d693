/**
 * The trackers that share a PostgreSQL store (trackers.ts): each heartbeats its row by the database's
 * clock (fabric_now_ms), and the one that leads is the holder of the unexpired lease.
 */
import type postgres from "postgres";
import type { TrackerRecord, TrackerState } from "./trackers.ts";

export async function heartbeatPostgresTracker(sql: postgres.Sql, tracker: TrackerRecord): Promise<void> {
  await sql`
    INSERT INTO trackers (id, url, version, started_at, last_seen)
    VALUES (${tracker.id}, ${tracker.url}, ${tracker.version}, ${tracker.startedAt}, fabric_now_ms())
    ON CONFLICT (id) DO UPDATE SET url = excluded.url, version = excluded.version,
      started_at = excluded.started_at, last_seen = excluded.last_seen`;
}

export async function listPostgresTrackers(sql: postgres.Sql): Promise<TrackerState[]> {
  const rows = await sql`
    SELECT t.*, (l.holder IS NOT NULL) AS leads FROM trackers t
    LEFT JOIN leases l ON l.name = 'leader' AND l.holder = t.id AND l.expires_at > fabric_now_ms()
    ORDER BY t.id`;
  return rows.map((row) => ({
    id: String(row.id),
    url: String(row.url),
    version: String(row.version),
    startedAt: Number(row.started_at),
    lastSeen: Number(row.last_seen),
    leads: Boolean(row.leads),
  }));
}
