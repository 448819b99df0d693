/**
 * Channels (`fabric channel ...`, docs/channels.md): small key/value spaces in the tracker's store, after
 * etcd's keys and Consul's sessions. Every change of any channel gets the next revision of one counter
 * that only grows; a watch from revision R answers every change of its channel after R, in order, and
 * a revision whose history was compacted is refused (code `compacted`), never skipped silently.
 */
import { z } from "zod";
import { textSchema } from "./text.ts";

/** A channel's name: as a job's, letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const CHANNEL_NAME_RULE =
  "must be letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64 characters)";

/**
 * The limits, each named in its refusal. A key and its value are text (no NUL, no lone surrogate); the
 * counts keep one caller from filling the store: 1,000 channels of 1,000 keys of 64 KiB is 64 GiB at most.
 */
export const CHANNEL_LIMITS = {
  /** A key, in bytes of UTF-8. */
  keyBytes: 512,
  /** A value, in bytes of UTF-8. */
  valueBytes: 64 * 1024,
  /** Keys one channel holds at once. */
  keysPerChannel: 1000,
  /** Channels that hold keys at once. */
  channels: 1000,
  /** A key's TTL: from a second to a week. */
  minTtlMs: 1000,
  maxTtlMs: 7 * 24 * 3600 * 1000,
} as const;

/** The changes one watch answer holds at most (the next call goes on from the last). */
export const MAX_WATCH_CHANGES = 1000;

/** The kinds of change: a key set, deleted, or ended by its lifetime (its TTL, or the end of its task's attempt). */
export const CHANNEL_CHANGE_KINDS = ["set", "del", "expire"] as const;
export type ChannelChangeKind = typeof CHANNEL_CHANGE_KINDS[number];

export const channelNameSchema = z.string().regex(CHANNEL_NAME, CHANNEL_NAME_RULE);
export const channelKeySchema = textSchema(CHANNEL_LIMITS.keyBytes).min(1, "must not be empty");
export const channelValueSchema = textSchema(CHANNEL_LIMITS.valueBytes);

export const setChannelKeyRequestSchema = z.object({
  value: channelValueSchema,
  /** Compare-and-set: the key's revision must be this (0: the key must not exist). */
  ifRevision: z.number().int().min(0).optional(),
  /** The key expires this long after it is set (each set starts it again). */
  ttlMs: z.number().int().min(CHANNEL_LIMITS.minTtlMs).max(CHANNEL_LIMITS.maxTtlMs).optional(),
  /** Bound to the task that sets it: it goes when that task's attempt ends (only a task's own call may ask). */
  taskBound: z.boolean().optional(),
}).strict();
export type SetChannelKeyRequest = z.infer<typeof setChannelKeyRequestSchema>;

/** A key as it is now. */
export interface ChannelKeyView {
  channel: string;
  key: string;
  value: string;
  /** The revision of the change that created it (as etcd's create_revision). */
  createRevision: number;
  /** The revision of its last change: what `--if-revision` compares with. */
  revision: number;
  /** When it expires (ms since the epoch), or null. */
  expiresAt: number | null;
  /** The task whose attempt it is bound to, or null. */
  task: string | null;
}

/** One change, as a watch answers it. */
export interface ChannelChange {
  revision: number;
  channel: string;
  key: string;
  kind: ChannelChangeKind;
  /** The value set; null for del and expire. */
  value: string | null;
  /** When it was made, ms since the epoch. */
  at: number;
}

export interface SetChannelKeyResponse {
  key: ChannelKeyView;
  created: boolean;
}

export interface DeleteChannelKeyResponse {
  /** The revision of the delete, or null when there was no such key. */
  revision: number | null;
}

/** A channel's keys, and the revision they are as of: a watch from it misses nothing after the list. */
export interface ChannelKeysResponse {
  channel: string;
  revision: number;
  keys: ChannelKeyView[];
}

export interface ChannelWatchResponse {
  changes: ChannelChange[];
  /** Where the next call goes on from: the last change answered, or the revision asked for when none came. */
  revision: number;
}

export interface ChannelView {
  name: string;
  keys: number;
}

export interface ChannelsResponse {
  channels: ChannelView[];
  /** The latest revision of any channel. */
  revision: number;
}
