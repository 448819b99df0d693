/**
 * Channels' reads, for either store through its ChannelSql (sqlite_channels.ts, postgres_channels.ts),
 * outside a write: the statements are channels.ts's CHANNEL_SQL, the rows made records the same way.
 */
import {
  CHANNEL_SQL,
  type ChannelChangeRecord,
  type ChannelKeyRecord,
  type ChannelOwner,
  type ChannelSql,
  type ChannelStore,
  toChannelChange,
  toChannelKey,
} from "./channels.ts";

/** The reads of a ChannelStore. */
export type ChannelReads = Omit<ChannelStore, "writeChannel">;

/** How a store runs one read: through its ChannelSql, its failure naming `what` was being read. */
export type ChannelReader = <T>(what: string, body: (sql: ChannelSql) => Promise<T>) => Promise<T>;

/** A store's channel reads, each run by `read` (the store's connection, the store's errors). */
export function channelReads(read: ChannelReader): ChannelReads {
  return {
    getChannelKey: (channel, key) => read("a channel's key", (sql) => getChannelKey(sql, channel, key)),
    listChannelKeys: (channel, limit) => read("a channel's keys", (sql) => listChannelKeys(sql, channel, limit)),
    listChannels: (limit) => read("the channels", (sql) => listChannels(sql, limit)),
    readChannelChanges: (channel, after, limit) =>
      read("a channel's changes", (sql) => readChannelChanges(sql, { channel, after, limit })),
    channelOwners: () => read("the owners of channel keys", channelOwners),
    nextChannelExpiry: () => read("the next expiry of channel keys", nextChannelExpiry),
  };
}

export async function getChannelKey(sql: ChannelSql, channel: string, key: string): Promise<ChannelKeyRecord | null> {
  const [row] = await sql.all(CHANNEL_SQL.getKey, [channel, key]);
  return row ? toChannelKey(row) : null;
}

export async function listChannels(sql: ChannelSql, limit: number): Promise<Array<{ name: string; keys: number }>> {
  return (await sql.all(CHANNEL_SQL.listChannels, [limit])).map((r) => ({
    name: String(r.name),
    keys: Number(r.keys),
  }));
}

/** Every attempt some key is bound to. */
export async function channelOwners(sql: ChannelSql): Promise<ChannelOwner[]> {
  return (await sql.all(CHANNEL_SQL.owners, [])).map((r) => ({
    task: String(r.owner_task),
    attempt: Number(r.owner_attempt),
  }));
}

/** The earliest expiry of any key, or null when no key expires. */
export async function nextChannelExpiry(sql: ChannelSql): Promise<number | null> {
  const [row] = await sql.all(CHANNEL_SQL.nextExpiry, []);
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

export async function readChannelChanges(
  sql: ChannelSql,
  query: { channel: string; after: number; limit: number },
): Promise<{ changes: ChannelChangeRecord[]; compacted: number; revision: number }> {
  const changes = (await sql.all(CHANNEL_SQL.changes, [query.channel, query.after, query.limit])).map(toChannelChange);
  const [mark] = await sql.all(CHANNEL_SQL.compacted, []);
  const [latest] = await sql.all(CHANNEL_SQL.latest, []);
  return { changes, compacted: mark ? Number(mark.value) : 0, revision: Number(latest.revision) };
}

export async function listChannelKeys(
  sql: ChannelSql,
  channel: string,
  limit: number,
): Promise<{ keys: ChannelKeyRecord[]; revision: number }> {
  // The revision first: a change after it is in the keys or not, and a watch from it answers it either way.
  const [latest] = await sql.all(CHANNEL_SQL.latest, []);
  const keys = (await sql.all(CHANNEL_SQL.listKeys, [channel, limit])).map(toChannelKey);
  return { keys, revision: Number(latest.revision) };
}
