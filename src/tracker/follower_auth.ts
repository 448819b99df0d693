/**
 * Who a request is, at a tracker that follows: the leader's own check (credentials.ts) on the token
 * hashes and the agents' credential hashes read from the store, so that what a follower forwards to
 * the leader has a token that authenticates (a stranger's flood stops at the follower). The leader
 * checks again when the request reaches it: a credential the follower still accepts after a change
 * is refused there.
 *
 * A credential refused may be new (an agent that registered through the leader a moment ago, a token
 * just made). An agent's credential (`ID.SECRET`) is checked again against that one agent's row, looked
 * up by id: the ids met meanwhile go in one indexed read at most every LOOKUP_GAP_MS (at most MAX_LOOKUP
 * of them, else "try again"), and an id found missing is not looked up again for MISSING_MS. Any other
 * token is checked again after the next read of the tokens that starts after it came (reads at least
 * READ_GAP_MS apart). So made-up credentials, however many, never make a follower read the agents
 * table whole: they cost a few small reads a second.
 */
import { type Clock, FabricError, sleep, systemClock, type TimerId } from "../protocol/mod.ts";
import type { Store } from "../store/mod.ts";
import { splitCredential } from "./auth.ts";
import { Credentials, type KnownAgent, type Principal } from "./credentials.ts";
import type { TokenWriter } from "./tokens.ts";

const READ_GAP_MS = 1000;
/** Agents' rows are looked up at most this often (each lookup takes every id met meanwhile). */
const LOOKUP_GAP_MS = 100;
/** The most ids one lookup takes; past it, a request with yet another unknown id is told to try again. */
const MAX_LOOKUP = 1000;
/** An id found missing is refused without a lookup for this long (most of a flood names ids again). */
const MISSING_MS = 1000;
/** The most ids remembered as missing (the oldest go first). */
const MAX_MISSING = 10_000;
const NO_WRITES: TokenWriter = { token: () => {} };
/**
 * The longest a request waits for that read: a store slow to answer (restarting, a connection that
 * hangs) makes it a 503 at once, so that an agent's heartbeat fails fast and is tried again, or on
 * another tracker, instead of hanging past its agent's TTL.
 */
const READ_WAIT_MS = 3000;

type FollowerStore = Pick<Store, "getMeta" | "getAgents" | "loadTokens">;

interface Lookup {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class FollowerAuth {
  #store: FollowerStore;
  #clock: Clock;
  #credentials = new Credentials();
  #agents = new Map<string, KnownAgent>();
  /** The read of the tokens under way, and when it started. */
  #reading: { done: Promise<void>; startedAt: number } | null = null;
  #lastReadAt = -Infinity;
  /** When the last read of the tokens that succeeded started: what it found is what is known. */
  #readStartedAt = -Infinity;
  /** Agent ids waiting for the next lookup, with the requests waiting for it. */
  #toLookUp = new Map<string, Lookup[]>();
  #lookupTimer: TimerId | undefined;
  #lookingUp = false;
  #lastLookupAt = -Infinity;
  /** Ids found missing, and when. */
  #missing = new Map<string, number>();

  constructor(store: FollowerStore, clock: Clock = systemClock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Who `authorization` is, or a FabricError ("unauthorized"), at once when the token is known. */
  authenticate(authorization: string | undefined): Principal | Promise<Principal> {
    const token = authorization?.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
    if (!token) throw new FabricError("unauthorized", "A token is required (Authorization: Bearer TOKEN)");
    try {
      return this.#check(token);
    } catch (error) {
      if (!(error instanceof FabricError && error.code === "unauthorized")) throw error;
    }
    const agentId = splitCredential(token)?.agentId;
    const since = this.#clock.now();
    // An agent's credential: its one row; a token (or what looks like a credential of no agent): the
    // tokens, read again.
    const again = agentId === undefined
      ? this.#readAfter(since)
      : this.#lookUp(agentId, since).then(() => this.#agents.has(agentId) ? undefined : this.#readAfter(since));
    let timer: TimerId | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(() => {
        reject(
          new FabricError(
            "unavailable",
            `This tracker could not check the token against the store within ${READ_WAIT_MS} ms; try again`,
          ),
        );
      }, READ_WAIT_MS);
    });
    return Promise.race([again, late]).then(() => this.#check(token))
      .finally(() => this.#clock.clearTimeout(timer));
  }

  /** The hash of agent `agentId`'s credential as read here (what its requests were accepted with). */
  credentialHashOf(agentId: string): string | undefined {
    return this.#agents.get(agentId)?.record.credentialHash;
  }

  /** What is known of agent `agentId` is out of date (the leader refused it): its next request looks it up. */
  forget(agentId: string): void {
    this.#agents.delete(agentId);
  }

  /**
   * The leader's check on what was read; a token's use is not written here (a follower writes nothing):
   * the leader, which checks the request again, writes it.
   */
  #check(token: string): Principal {
    return this.#credentials.authenticate(token, this.#agents, { now: this.#clock.now(), writer: NO_WRITES });
  }

  /** Resolves once agent `agentId`'s row has been read (or found missing) at or after `since`. */
  #lookUp(agentId: string, since: number): Promise<void> {
    const missingAt = this.#missing.get(agentId);
    if (missingAt !== undefined && since - missingAt < MISSING_MS) return Promise.resolve();
    const waiting = this.#toLookUp.get(agentId);
    if (!waiting && this.#toLookUp.size >= MAX_LOOKUP) {
      return Promise.reject(new FabricError("unavailable", "This tracker is checking many new credentials; try again"));
    }
    return new Promise<void>((resolve, reject) => {
      const lookup = { resolve, reject };
      if (waiting) waiting.push(lookup);
      else this.#toLookUp.set(agentId, [lookup]);
      this.#scheduleLookup();
    });
  }

  #scheduleLookup(): void {
    if (this.#lookingUp || this.#lookupTimer !== undefined || this.#toLookUp.size === 0) return;
    const wait = Math.max(0, this.#lastLookupAt + LOOKUP_GAP_MS - this.#clock.now());
    this.#lookupTimer = this.#clock.setTimeout(() => {
      this.#lookupTimer = undefined;
      void this.#runLookup();
    }, wait);
  }

  async #runLookup(): Promise<void> {
    const batch = this.#toLookUp;
    this.#toLookUp = new Map();
    this.#lookingUp = true;
    const startedAt = this.#lastLookupAt = this.#clock.now();
    try {
      const found = new Set<string>();
      for (const record of await this.#store.getAgents([...batch.keys()])) {
        this.#agents.set(record.id, { record });
        found.add(record.id);
      }
      for (const id of batch.keys()) {
        if (found.has(id)) continue;
        this.#agents.delete(id);
        this.#missing.delete(id);
        this.#missing.set(id, startedAt);
        if (this.#missing.size > MAX_MISSING) this.#missing.delete(this.#missing.keys().next().value!);
      }
      for (const waiting of batch.values()) for (const lookup of waiting) lookup.resolve();
    } catch (error) {
      const unavailable = new FabricError(
        "unavailable",
        `This tracker could not check the credential against the store: ${(error as Error)?.message ?? error}`,
      );
      for (const waiting of batch.values()) for (const lookup of waiting) lookup.reject(unavailable);
    } finally {
      this.#lookingUp = false;
      this.#scheduleLookup();
    }
  }

  /** Resolves once a read of the tokens that started at or after `since` is done. */
  async #readAfter(since: number): Promise<void> {
    for (let turns = 0; turns < 5; turns++) {
      if (this.#readStartedAt >= since) return;
      const reading = this.#reading;
      // A read that has hung for as long as a request waits is left behind: another is started.
      if (reading && this.#clock.now() - reading.startedAt < READ_WAIT_MS) {
        if (reading.startedAt >= since) return await reading.done;
        await reading.done.catch(() => {});
        continue;
      }
      const wait = this.#lastReadAt + READ_GAP_MS - this.#clock.now();
      if (wait > 0) {
        await sleep(this.#clock, wait);
        continue;
      }
      return await this.#read();
    }
    throw new FabricError("unavailable", "This tracker could not check the token against the store; try again");
  }

  #read(): Promise<void> {
    const startedAt = this.#lastReadAt = this.#clock.now();
    const done = (async () => {
      const credentials = new Credentials();
      await credentials.load(this.#store);
      if (startedAt < this.#readStartedAt) return; // a newer read finished first
      this.#credentials = credentials;
      this.#readStartedAt = startedAt;
    })().finally(() => {
      if (this.#reading?.done === done) this.#reading = null;
    });
    this.#reading = { done, startedAt };
    return done;
  }
}
