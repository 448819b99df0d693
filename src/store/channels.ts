/**
 * What a store keeps of channels (protocol/channel.ts): each key with the revisions of its creation
 * and last change, its expiry and the task attempt it is bound to; and the history of changes a watch
 * reads, in `channel_changes`, whose primary key is the revision. The revision comes from that insert:
 * SQLite's AUTOINCREMENT and PostgreSQL's sequence `channel_revision` never hand out a number twice,
 * deletes and restarts notwithstanding (a rolled-back PostgreSQL write leaves a number unused: revisions
 * only grow, they may skip).
 *
 * A write is one transaction, and writes are one at a time: SQLite has one writer, and PostgreSQL's
 * take a transaction lock (CHANNEL_LOCK) before their revision, so revisions commit in their order and
 * a reader that sees revision R sees every one before it (a watch from the last revision it saw can
 * never skip one committed later with a smaller number). Every write of a tracker that shares its store
 * is fenced by the lease, as every other (lease.ts).
 *
 * Compaction, decided here: each write keeps the changes of the last `history` revisions and drops
 * older ones, and `channel_compacted` (meta) is the revision up to which history is gone; a watch from
 * before it is refused. The logic runs in either store through ChannelSql (the store's transaction).
 */

import type { ChannelChange, ChannelKeyView } from "../protocol/mod.ts";

/** A write, with its time (the store never reads the clock) and how much history to keep. */
export type ChannelWrite =
  & { now: number; history: number }
  & (
    | {
      op: "set";
      channel: string;
      key: string;
      value: string;
      ifRevision?: number;
      expiresAt: number | null;
      owner: ChannelOwner | null;
      limits: { keysPerChannel: number; channels: number };
    }
    | { op: "del"; channel: string; key: string; ifRevision?: number }
    /** Keys whose expiry has come, at most `limit`, each an `expire` change. */
    | { op: "expire"; limit: number }
    /** Keys bound to these attempts (or an earlier attempt of their task), each an `expire` change. */
    | { op: "release"; owners: ChannelOwner[]; limit: number }
  );

/** A task's attempt that a key is bound to. */
export interface ChannelOwner {
  task: string;
  attempt: number;
}

/** A key as stored: the wire's view, with the attempt it is bound to (the wire shows only the task). */
export type ChannelKeyRecord = Omit<ChannelKeyView, "task"> & { owner: ChannelOwner | null };

export type ChannelChangeRecord = ChannelChange;

/** What a write did; a refusal is an answer, not an error (SQLite's worker passes only an error's message on). */
export type ChannelWriteResult =
  | { ok: true; revision: number | null; key?: ChannelKeyRecord; created?: boolean; count?: number }
  /** --if-revision did not match: the key's revision now (0: no such key). */
  | { ok: false; conflict: number }
  /** A limit would be passed: which, and its value. */
  | { ok: false; limit: "keysPerChannel" | "channels"; value: number };

export interface ChannelStore {
  /** One write, in one transaction (fenced by `fence` in a store several trackers share). */
  writeChannel(write: ChannelWrite, fence?: { holder: string; epoch: number }): Promise<ChannelWriteResult>;
  getChannelKey(channel: string, key: string): Promise<ChannelKeyRecord | null>;
  /** A channel's keys by key, at most `limit`, and the revision they are as of. */
  listChannelKeys(channel: string, limit: number): Promise<{ keys: ChannelKeyRecord[]; revision: number }>;
  /** Channels with keys, by name, with how many each holds. */
  listChannels(limit: number): Promise<Array<{ name: string; keys: number }>>;
  /**
   * Changes of `channel` after `after`, at most `limit`, in order; `compacted`: history up to it is gone
   * (read after the changes, so that a compaction meanwhile is seen). `revision`: the latest of any channel.
   */
  readChannelChanges(
    channel: string,
    after: number,
    limit: number,
  ): Promise<{ changes: ChannelChangeRecord[]; compacted: number; revision: number }>;
  /** Every attempt some key is bound to (a leader that takes over learns them here). */
  channelOwners(): Promise<ChannelOwner[]>;
  /** The earliest expiry of any key (ms since the epoch), or null when no key expires. */
  nextChannelExpiry(): Promise<number | null>;
}

/** A store's statements inside its transaction: rows read, and rows changed. */
export interface ChannelSql {
  all(text: string, params: unknown[]): Promise<Array<Record<string, unknown>>>;
  run(text: string, params: unknown[]): Promise<number>;
}

/** PostgreSQL's transaction lock for channel writes (two 32-bit keys: "fabr", 2), migrations' being 1. */
export const CHANNEL_LOCK = [0x66616272, 2] as const;

/** The statements, with `?1`-style parameters (PostgreSQL's are `$1`: blobs.ts postgresSql). */
export const CHANNEL_SQL = {
  getKey: "SELECT * FROM channel_keys WHERE channel = ?1 AND key = ?2",
  listKeys: "SELECT * FROM channel_keys WHERE channel = ?1 ORDER BY key LIMIT ?2",
  listChannels: "SELECT name, keys FROM channels ORDER BY name LIMIT ?1",
  countChannels: "SELECT count(*) AS n FROM channels",
  channel: "SELECT keys FROM channels WHERE name = ?1",
  addChannel: "INSERT INTO channels (name, keys) VALUES (?1, 1)",
  addKey: "UPDATE channels SET keys = keys + 1 WHERE name = ?1",
  dropKey: "UPDATE channels SET keys = keys - 1 WHERE name = ?1",
  dropChannel: "DELETE FROM channels WHERE name = ?1 AND keys <= 0",
  change: "INSERT INTO channel_changes (channel, key, kind, value, at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING revision",
  insertKey: `INSERT INTO channel_keys (channel, key, value, create_revision, mod_revision, expires_at, owner_task,
    owner_attempt) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)`,
  updateKey: `UPDATE channel_keys SET value = ?3, mod_revision = ?4, expires_at = ?5, owner_task = ?6,
    owner_attempt = ?7 WHERE channel = ?1 AND key = ?2`,
  deleteKey: "DELETE FROM channel_keys WHERE channel = ?1 AND key = ?2",
  expired: "SELECT channel, key FROM channel_keys WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
  owned: "SELECT channel, key FROM channel_keys WHERE owner_task = ?1 AND owner_attempt <= ?2 LIMIT ?3",
  owners: "SELECT DISTINCT owner_task, owner_attempt FROM channel_keys WHERE owner_task IS NOT NULL",
  nextExpiry: "SELECT min(expires_at) AS at FROM channel_keys WHERE expires_at IS NOT NULL",
  changes: "SELECT * FROM channel_changes WHERE channel = ?1 AND revision > ?2 ORDER BY revision LIMIT ?3",
  latest: "SELECT coalesce(max(revision), 0) AS revision FROM channel_changes",
  compacted: "SELECT value FROM meta WHERE key = 'channel_compacted'",
  compact: "DELETE FROM channel_changes WHERE revision <= ?1",
  setCompacted: `INSERT INTO meta (key, value) VALUES ('channel_compacted', ?1)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
} as const;

/** One write's statements, in the store's transaction. */
export async function applyChannelWrite(sql: ChannelSql, write: ChannelWrite): Promise<ChannelWriteResult> {
  const s = CHANNEL_SQL;
  switch (write.op) {
    case "set": {
      const [row] = await sql.all(s.getKey, [write.channel, write.key]);
      const current = row ? toChannelKey(row) : null;
      if (write.ifRevision !== undefined && write.ifRevision !== (current?.revision ?? 0)) {
        return { ok: false, conflict: current?.revision ?? 0 };
      }
      if (!current) {
        const [channel] = await sql.all(s.channel, [write.channel]);
        if (channel && Number(channel.keys) >= write.limits.keysPerChannel) {
          return { ok: false, limit: "keysPerChannel", value: write.limits.keysPerChannel };
        }
        if (!channel) {
          const [count] = await sql.all(s.countChannels, []);
          if (Number(count.n) >= write.limits.channels) {
            return { ok: false, limit: "channels", value: write.limits.channels };
          }
          await sql.run(s.addChannel, [write.channel]);
        } else {
          await sql.run(s.addKey, [write.channel]);
        }
      }
      const revision = await change(sql, write, { key: write.key, kind: "set", value: write.value });
      const params = [
        write.channel,
        write.key,
        write.value,
        revision,
        write.expiresAt,
        write.owner?.task ?? null,
        write.owner?.attempt ?? null,
      ];
      await sql.run(current ? s.updateKey : s.insertKey, params);
      await compact(sql, revision, write.history);
      const key: ChannelKeyRecord = {
        channel: write.channel,
        key: write.key,
        value: write.value,
        createRevision: current?.createRevision ?? revision,
        revision,
        expiresAt: write.expiresAt,
        owner: write.owner,
      };
      return { ok: true, revision, key, created: !current };
    }
    case "del": {
      const [row] = await sql.all(s.getKey, [write.channel, write.key]);
      const current = row ? toChannelKey(row) : null;
      if (write.ifRevision !== undefined && write.ifRevision !== (current?.revision ?? 0)) {
        return { ok: false, conflict: current?.revision ?? 0 };
      }
      if (!current) return { ok: true, revision: null };
      const revision = await remove(sql, write, { channel: write.channel, key: write.key }, "del");
      await compact(sql, revision, write.history);
      return { ok: true, revision };
    }
    case "expire": {
      const rows = await sql.all(s.expired, [write.now, write.limit]);
      return await removeAll(sql, write, rows);
    }
    case "release": {
      const rows: Array<Record<string, unknown>> = [];
      for (const owner of write.owners) {
        if (rows.length >= write.limit) break;
        rows.push(...await sql.all(s.owned, [owner.task, owner.attempt, write.limit - rows.length]));
      }
      return await removeAll(sql, write, rows);
    }
  }
}

async function removeAll(
  sql: ChannelSql,
  write: { now: number; history: number },
  rows: Array<Record<string, unknown>>,
): Promise<ChannelWriteResult> {
  let revision: number | null = null;
  for (const row of rows) {
    revision = await remove(sql, write, { channel: String(row.channel), key: String(row.key) }, "expire");
  }
  if (revision !== null) await compact(sql, revision, write.history);
  return { ok: true, revision, count: rows.length };
}

async function remove(
  sql: ChannelSql,
  write: { now: number },
  target: { channel: string; key: string },
  kind: "del" | "expire",
): Promise<number> {
  const revision = await change(sql, { channel: target.channel, now: write.now }, {
    key: target.key,
    kind,
    value: null,
  });
  await sql.run(CHANNEL_SQL.deleteKey, [target.channel, target.key]);
  await sql.run(CHANNEL_SQL.dropKey, [target.channel]);
  await sql.run(CHANNEL_SQL.dropChannel, [target.channel]);
  return revision;
}

async function change(
  sql: ChannelSql,
  write: { channel: string; now: number },
  what: { key: string; kind: ChannelChangeRecord["kind"]; value: string | null },
): Promise<number> {
  const [row] = await sql.all(CHANNEL_SQL.change, [write.channel, what.key, what.kind, what.value, write.now]);
  return Number(row.revision);
}

/** History older than the last `history` revisions goes; the mark says up to where. */
async function compact(sql: ChannelSql, revision: number, history: number): Promise<void> {
  const upTo = revision - history;
  if (upTo <= 0) return;
  await sql.run(CHANNEL_SQL.compact, [upTo]);
  await sql.run(CHANNEL_SQL.setCompacted, [String(upTo)]);
}

/** A row of `channel_keys`, from either store. */
export function toChannelKey(row: Record<string, unknown>): ChannelKeyRecord {
  return {
    channel: String(row.channel),
    key: String(row.key),
    value: String(row.value),
    createRevision: Number(row.create_revision),
    revision: Number(row.mod_revision),
    expiresAt: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
    owner: row.owner_task === null || row.owner_task === undefined
      ? null
      : { task: String(row.owner_task), attempt: Number(row.owner_attempt) },
  };
}

/** A row of `channel_changes`, from either store. */
export function toChannelChange(row: Record<string, unknown>): ChannelChangeRecord {
  return {
    revision: Number(row.revision),
    channel: String(row.channel),
    key: String(row.key),
    kind: String(row.kind) as ChannelChangeRecord["kind"],
    value: row.value === null || row.value === undefined ? null : String(row.value),
    at: Number(row.at),
  };
}
