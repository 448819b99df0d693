/**
 * Who a request is, at a tracker that follows: the leader's own check (credentials.ts) on the token
 * hashes and the agents' credential hashes read from the store, so that what a follower forwards to
 * the leader has a token that authenticates (a stranger's flood stops at the follower). The leader
 * checks again when the request reaches it: a credential the follower still accepts after a change
 * is refused there.
 *
 * A token refused may be new (an agent that registered through the leader a moment ago, a token just
 * made): it is checked again after the next read of the store that starts after it came. Reads are at least
 * READ_GAP_MS apart, so made-up credentials cost at most one read of the agents a second, however many.
 */
import { type Clock, FabricError, sleep, systemClock, type TimerId } from "../protocol/mod.ts";
import type { Store } from "../store/mod.ts";
import { Credentials, type KnownAgent, type Principal } from "./credentials.ts";
import type { TokenWriter } from "./tokens.ts";

const READ_GAP_MS = 1000;
const NO_WRITES: TokenWriter = { token: () => {} };
/**
 * The longest a request waits for that read: a store slow to answer (restarting, a connection that
 * hangs) makes it a 503 at once, so that an agent's heartbeat fails fast and is tried again, or on
 * another tracker, instead of hanging past its agent's TTL.
 */
const READ_WAIT_MS = 3000;

export class FollowerAuth {
  #store: Pick<Store, "getMeta" | "loadAgents" | "loadTokens">;
  #clock: Clock;
  #credentials = new Credentials();
  #agents = new Map<string, KnownAgent>();
  /** The read under way, and when it started. */
  #reading: { done: Promise<void>; startedAt: number } | null = null;
  #lastReadAt = -Infinity;
  /** When the last read that succeeded started: what it found is what is known. */
  #readStartedAt = -Infinity;

  constructor(store: Pick<Store, "getMeta" | "loadAgents" | "loadTokens">, clock: Clock = systemClock) {
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
    return Promise.race([this.#readAfter(this.#clock.now()), late]).then(() => this.#check(token))
      .finally(() => this.#clock.clearTimeout(timer));
  }

  /**
   * The leader's check on what was read; a token's use is not written here (a follower writes nothing):
   * the leader, which checks the request again, writes it.
   */
  #check(token: string): Principal {
    return this.#credentials.authenticate(token, this.#agents, { now: this.#clock.now(), writer: NO_WRITES });
  }

  /** Resolves once a read of the store that started at or after `since` is done. */
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
      const agents = new Map<string, KnownAgent>();
      for (const record of await this.#store.loadAgents()) agents.set(record.id, { record });
      if (startedAt < this.#readStartedAt) return; // a newer read finished first
      this.#credentials = credentials;
      this.#agents = agents;
      this.#readStartedAt = startedAt;
    })().finally(() => {
      if (this.#reading?.done === done) this.#reading = null;
    });
    this.#reading = { done, startedAt };
    return done;
  }
}
