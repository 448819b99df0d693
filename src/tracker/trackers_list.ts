/**
 * This tracker among those that share its store: it heartbeats its own row (its address, version,
 * start), and keeps the list it reads back, for `GET /v1/trackers` and for a follower to find the
 * leader's address (the lease names the leader; this list says where it is).
 */
import { type Clock, FABRIC_VERSION, systemClock, type TimerId, type TrackerView } from "../protocol/mod.ts";
import type { Store, TrackerRecord, TrackerState } from "../store/mod.ts";

/** A list read this recently is answered as it is. */
const FRESH_MS = 1000;
/** The longest a forward waits to learn where the leader is (a store slow to answer makes it a 503). */
const READ_WAIT_MS = 3000;

export interface TrackersListOptions {
  store: Store;
  id: string;
  /** How often this tracker's row is written (a third of the lease). */
  intervalMs: number;
  clock?: Clock;
  log: (message: string) => void;
}

export class TrackersList {
  #options: TrackersListOptions;
  #clock: Clock;
  #self: TrackerRecord;
  #list: TrackerState[] = [];
  #readAt = -Infinity;
  #reading: Promise<TrackerState[]> | null = null;
  #timer: TimerId | undefined;
  #beating: Promise<void> | null = null;
  #failing = false;
  #stopped = false;

  constructor(options: TrackersListOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#self = { id: options.id, url: "", version: FABRIC_VERSION, startedAt: this.#clock.now() };
  }

  /**
   * The first heartbeat, with this tracker's address (`https://HOST:PORT`, as agents and the other
   * trackers reach it, known once it listens), then one every interval.
   */
  async start(url: string): Promise<void> {
    this.#self.url = url;
    await this.#beat();
  }

  async #beat(): Promise<void> {
    this.#beating = (async () => {
      try {
        await this.#options.store.heartbeatTracker(this.#self);
        await this.#read();
        if (this.#failing) this.#options.log("this tracker's heartbeat reaches the store again");
        this.#failing = false;
      } catch (error) {
        if (!this.#failing) this.#options.log(`this tracker's heartbeat failed: ${(error as Error).message}`);
        this.#failing = true;
      }
    })();
    await this.#beating;
    this.#beating = null;
    if (!this.#stopped) this.#timer = this.#clock.setTimeout(() => void this.#beat(), this.#options.intervalMs);
  }

  #read(): Promise<TrackerState[]> {
    this.#reading ??= this.#options.store.listTrackers().then((list) => {
      this.#list = list;
      this.#readAt = this.#clock.now();
      return list;
    }).finally(() => this.#reading = null);
    return this.#reading;
  }

  /** The list as the store has it (read again unless it was just read). */
  async views(): Promise<TrackerView[]> {
    const list = this.#clock.now() - this.#readAt < FRESH_MS ? this.#list : await this.#read();
    return list.map((tracker) => ({
      id: tracker.id,
      url: tracker.url,
      role: tracker.leads ? "leader" : "follower",
      version: tracker.version,
      startedAt: new Date(tracker.startedAt).toISOString(),
      lastSeen: new Date(tracker.lastSeen).toISOString(),
    }));
  }

  /**
   * Where tracker `id` is: from the list, read again if it is not there (a tracker that just started);
   * null if it is not listed, or the store does not answer within READ_WAIT_MS.
   */
  async urlOf(id: string): Promise<string | null> {
    const known = this.#list.find((tracker) => tracker.id === id);
    if (known) return known.url;
    if (this.#clock.now() - this.#readAt < FRESH_MS) return null;
    let timer: TimerId | undefined;
    const late = new Promise<null>((resolve) => timer = this.#clock.setTimeout(() => resolve(null), READ_WAIT_MS));
    try {
      const list = await Promise.race([this.#read(), late]);
      return list?.find((tracker) => tracker.id === id)?.url ?? null;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#beating;
  }
}
