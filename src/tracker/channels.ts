/**
 * Channels (protocol/channel.ts, docs/channels.md) as the tracker that leads serves them: every write
 * goes to the store fenced by its lease (store/channels.ts), every read is the store's; a watch is a long
 * poll woken by this tracker's own writes (followers forward channel calls here, as every other). The
 * leader's sweep expires keys whose TTL has passed and releases keys bound to attempts that ended, each
 * a change in the history.
 */
import {
  CHANNEL_LIMITS,
  type ChannelChange,
  type ChannelKeysResponse,
  type ChannelKeyView,
  type ChannelsResponse,
  type ChannelWatchResponse,
  type Clock,
  type DeleteChannelKeyResponse,
  FabricError,
  MAX_WATCH_CHANGES,
  type SetChannelKeyRequest,
  type SetChannelKeyResponse,
} from "../protocol/mod.ts";
import {
  type ChannelKeyRecord,
  type ChannelOwner,
  type ChannelWrite,
  type ChannelWriteResult,
  type Fence,
  LeaseLostError,
  type Store,
} from "../store/mod.ts";
import { Wakeup } from "./wakeup.ts";

/**
 * Changes kept for watches: the last this many revisions (store/channels.ts compacts each write). A
 * watcher that falls further behind is told `compacted`, re-reads the channel and watches on from there.
 */
export const DEFAULT_CHANNEL_HISTORY = 10_000;

/** Watches one caller may hold at once (a long poll each). */
export const MAX_WATCHES_PER_CALLER = 32;

/** Keys expired or released in one sweep (the next sweep goes on). */
const SWEEP_KEYS = 1000;

export interface ChannelsOptions {
  store: Store;
  fence?: Fence;
  clock: Clock;
  /** Revisions of history kept (DEFAULT_CHANNEL_HISTORY). */
  history?: number;
  /** Whether the attempt a key is bound to is still under way (assigned or running). */
  attemptLive: (owner: ChannelOwner) => boolean;
  /** A fenced write was refused: this tracker no longer leads. */
  onLeaseLost: (error: LeaseLostError) => void;
  maxWaitMs: number;
}

export class Channels {
  #o: ChannelsOptions;
  #history: number;
  #changed = new Wakeup();
  /** Attempts some key is bound to, by `task#attempt`. */
  #owners = new Map<string, ChannelOwner>();
  #watches = new Map<string, number>();
  /** The earliest expiry of a key, as this leader knows it: a sweep writes only once one is due. */
  #nextExpiry: number | null = null;
  #closing = false;

  constructor(options: ChannelsOptions) {
    this.#o = options;
    this.#history = options.history ?? DEFAULT_CHANNEL_HISTORY;
  }

  /** The attempts keys are bound to, as the store has them (a leader that takes over). */
  async load(): Promise<void> {
    for (const owner of await this.#o.store.channelOwners()) this.#owners.set(ownerKey(owner), owner);
    this.#nextExpiry = await this.#o.store.nextChannelExpiry();
  }

  async set(
    channel: string,
    key: string,
    request: SetChannelKeyRequest,
    owner: ChannelOwner | null,
  ): Promise<SetChannelKeyResponse> {
    const now = this.#o.clock.now();
    const result = await this.#write({
      op: "set",
      channel,
      key,
      value: request.value,
      ifRevision: request.ifRevision,
      expiresAt: request.ttlMs === undefined ? null : now + request.ttlMs,
      owner,
      limits: CHANNEL_LIMITS,
      now,
      history: this.#history,
    }, { channel, key });
    if (owner) this.#owners.set(ownerKey(owner), owner);
    const expiresAt = result.key!.expiresAt;
    if (expiresAt !== null && (this.#nextExpiry === null || expiresAt < this.#nextExpiry)) this.#nextExpiry = expiresAt;
    return { key: toView(result.key!), created: result.created === true };
  }

  async get(channel: string, key: string): Promise<ChannelKeyView> {
    const record = await this.#o.store.getChannelKey(channel, key);
    if (!record) throw new FabricError("not_found", `Channel "${channel}" has no key "${key}"`);
    return toView(record);
  }

  async del(channel: string, key: string, ifRevision?: number): Promise<DeleteChannelKeyResponse> {
    const now = this.#o.clock.now();
    const result = await this.#write({ op: "del", channel, key, ifRevision, now, history: this.#history }, {
      channel,
      key,
    });
    return { revision: result.revision };
  }

  async list(channel: string): Promise<ChannelKeysResponse> {
    const { keys, revision } = await this.#o.store.listChannelKeys(channel, CHANNEL_LIMITS.keysPerChannel);
    return { channel, revision, keys: keys.map(toView) };
  }

  async channels(): Promise<ChannelsResponse> {
    // The revision first, as list's: no channel has the empty name, so this reads only the revision.
    const { revision } = await this.#o.store.listChannelKeys("", 0);
    return { channels: await this.#o.store.listChannels(CHANNEL_LIMITS.channels), revision };
  }

  /**
   * The changes of `channel` after revision `after`, in order; when there are none yet, waits up to
   * `waitMs` for one (or until `signal` aborts). History compacted past `after` is an error, never a gap.
   */
  async watch(
    channel: string,
    after: number,
    options: { waitMs: number; caller: string; signal?: AbortSignal },
  ): Promise<ChannelWatchResponse> {
    const held = this.#watches.get(options.caller) ?? 0;
    if (held >= MAX_WATCHES_PER_CALLER) {
      throw new FabricError(
        "too_many_requests",
        `This caller holds ${held} channel watches already, the most one may hold at once (${MAX_WATCHES_PER_CALLER})`,
      );
    }
    this.#watches.set(options.caller, held + 1);
    try {
      const until = this.#o.clock.now() + Math.min(options.waitMs, this.#o.maxWaitMs);
      // Bounded: each round waits for a write, and ends at the deadline, the caller leaving or a stop.
      for (let round = 0; round < 10_000; round++) {
        const changes = await this.#changesAfter(channel, after);
        const left = until - this.#o.clock.now();
        if (changes.length > 0 || left <= 0 || this.#closing || options.signal?.aborted) {
          return { changes, revision: changes.at(-1)?.revision ?? after };
        }
        await this.#changed.wait(left, options.signal);
      }
      return { changes: [], revision: after };
    } finally {
      const now = (this.#watches.get(options.caller) ?? 1) - 1;
      if (now > 0) this.#watches.set(options.caller, now);
      else this.#watches.delete(options.caller);
    }
  }

  async #changesAfter(channel: string, after: number): Promise<ChannelChange[]> {
    const read = await this.#o.store.readChannelChanges(channel, after, MAX_WATCH_CHANGES);
    if (after < read.compacted) {
      throw new FabricError(
        "compacted",
        `The history of channels before revision ${read.compacted} has been compacted (the last ` +
          `${this.#history} revisions are kept), so a watch from revision ${after} would miss changes: read the ` +
          `channel again (fabric channel list ${channel}) and watch from its revision`,
        { compacted: read.compacted, oldest: read.compacted },
      );
    }
    return read.changes;
  }

  /**
   * The leader's sweep: keys whose TTL has passed expire, and keys bound to attempts that ended go, each
   * a change (a key bound to an attempt this tracker never saw end, a restart's, goes at the first sweep).
   */
  async sweep(): Promise<void> {
    const now = this.#o.clock.now();
    // Every write of a channel is the leader's, so what it knows of expiries is all there is to know.
    if (this.#nextExpiry !== null && this.#nextExpiry <= now) {
      await this.#write({ op: "expire", limit: SWEEP_KEYS, now, history: this.#history });
      this.#nextExpiry = await this.#o.store.nextChannelExpiry();
    }
    const ended = [...this.#owners.values()].filter((owner) => !this.#o.attemptLive(owner));
    if (ended.length === 0) return;
    const result = await this.#write({ op: "release", owners: ended, limit: SWEEP_KEYS, now, history: this.#history });
    // All of them gone (a sweep that hit its bound goes on next time).
    if ((result.count ?? 0) < SWEEP_KEYS) { for (const owner of ended) this.#owners.delete(ownerKey(owner)); }
  }

  /** Answer every watch now (the tracker stops or no longer leads). */
  release(): void {
    this.#closing = true;
    this.#changed.notify();
  }

  async #write(
    write: ChannelWrite,
    target?: { channel: string; key: string },
  ): Promise<Extract<ChannelWriteResult, { ok: true }>> {
    let result: ChannelWriteResult;
    try {
      result = await this.#o.store.writeChannel(write, this.#o.fence);
    } catch (error) {
      if (error instanceof LeaseLostError) this.#o.onLeaseLost(error);
      throw error;
    }
    if (result.ok) {
      if (result.revision !== null) this.#changed.notify();
      return result;
    }
    const where = target ? `key "${target.key}" of channel "${target.channel}"` : "a channel";
    if ("conflict" in result) {
      const now = result.conflict === 0 ? "does not exist" : `is at revision ${result.conflict}`;
      const asked = (write as { ifRevision?: number }).ifRevision;
      throw new FabricError(
        "conflict",
        `Cannot change ${where}: it ${now}, not ${asked === 0 ? "absent" : `at revision ${asked}`} as asked`,
        { revision: result.conflict },
      );
    }
    const limits = {
      keysPerChannel: `a channel holds at most ${result.value} keys`,
      channels: `at most ${result.value} channels hold keys at once`,
    };
    throw new FabricError("limit_exceeded", `Cannot set ${where}: ${limits[result.limit]} (limit "${result.limit}")`, {
      limit: result.limit,
      value: result.value,
    });
  }
}

function ownerKey(owner: ChannelOwner): string {
  return `${owner.task}#${owner.attempt}`;
}

function toView(record: ChannelKeyRecord): ChannelKeyView {
  const { owner, ...rest } = record;
  return { ...rest, task: owner?.task ?? null };
}
