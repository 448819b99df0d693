/**
 * Who a bearer token is: an agent's own credential (`ID.SECRET`), a client token (with its name and
 * role), or the join token. Only hashes are kept, in memory and in the store.
 */
import { FabricError, type Role } from "../protocol/mod.ts";
import type { AgentRecord, Store } from "../store/mod.ts";
import { hashesEqual, hashToken, newJoinToken, splitCredential } from "./auth.ts";
import type { StoreWriter } from "./store_writer.ts";
import { FIRST_ADMIN, TokenRegistry, type TokenWriter } from "./tokens.ts";

export type Principal =
  | { kind: "client"; name: string; role: Role }
  | { kind: "join" }
  | { kind: "agent"; agentId: string };

const JOIN_KEY = "join_token_sha256";

/**
 * Set by `fabric tracker reset-admin-token` (a random mark), never by a tracker: a running tracker
 * that finds it changed reads its tokens again.
 */
export const TOKENS_RESET_KEY = "tokens_reset";

/** Whether the store has a client token and the join token's hash (a tracker that follows has no Credentials of its own). */
export async function storeHasTokens(store: Store): Promise<boolean> {
  return (await store.getMeta(JOIN_KEY)) !== null && (await store.loadTokens()).length > 0;
}

/** What authenticating an agent needs of it (the leader's AgentEntry, or a follower's copy of its row). */
export type KnownAgent = { record: Pick<AgentRecord, "id" | "name" | "credentialHash" | "admission"> };

export class Credentials {
  readonly tokens = new TokenRegistry();
  #joinHash = "";
  #resetMark: string | null = null;

  /** The hashes the store has (none before the first start of a data directory). */
  async load(store: Pick<Store, "getMeta" | "loadTokens">): Promise<void> {
    this.#joinHash = (await store.getMeta(JOIN_KEY)) ?? "";
    this.#resetMark = await store.getMeta(TOKENS_RESET_KEY);
    this.tokens.load(await store.loadTokens());
  }

  /**
   * Read the tokens again if `reset-admin-token` changed them since (one small read otherwise).
   * `flush` first writes what this tracker changed, so that what is read back holds it.
   */
  async refresh(store: Store, flush: () => Promise<void>): Promise<boolean> {
    const mark = await store.getMeta(TOKENS_RESET_KEY);
    if (mark === this.#resetMark) return false;
    await flush();
    const records = await store.loadTokens();
    this.#resetMark = mark;
    this.tokens.load(records);
    return true;
  }

  get complete(): boolean {
    return this.#joinHash !== "" && this.tokens.size > 0;
  }

  /** The first start's tokens: the admin token (named "admin") and the join token. */
  set(tokens: { admin: string; join: string }, writer: StoreWriter, now: number): void {
    this.tokens.create({ name: FIRST_ADMIN, role: "admin", expiresAt: null, token: tokens.admin }, now, writer);
    this.#setJoin(tokens.join, writer);
  }

  /** A new join token (naming the trackers' CA when it is known); the old one is refused from now on. */
  rotateJoin(writer: StoreWriter, caHash?: string): string {
    const token = newJoinToken(caHash);
    this.#setJoin(token, writer);
    return token;
  }

  #setJoin(token: string, writer: StoreWriter): void {
    this.#joinHash = hashToken(token);
    writer.meta(JOIN_KEY, this.#joinHash);
  }

  /**
   * One hash per request: an agent's credential, else a client token, else the join token. Anything
   * else is a FabricError("unauthorized") saying why, when that can be told (revoked, expired, removed).
   */
  authenticate(
    token: string,
    agents: ReadonlyMap<string, KnownAgent>,
    options: { now: number; writer: TokenWriter },
  ): Principal {
    const parts = splitCredential(token);
    const agent = parts ? agents.get(parts.agentId) : undefined;
    if (parts && agent) {
      if (!hashesEqual(hashToken(parts.secret), agent.record.credentialHash)) throw notAccepted();
      if (agent.record.admission === "removed") {
        throw new FabricError(
          "unauthorized",
          `Agent "${agent.record.name}" was removed from this tracker (fabric agents remove): its credential is revoked`,
        );
      }
      return { kind: "agent", agentId: agent.record.id };
    }
    const hash = hashToken(token);
    const client = this.tokens.authenticate(hash, options.now, options.writer);
    if (client) return { kind: "client", ...client };
    if (this.#joinHash && hashesEqual(hash, this.#joinHash)) return { kind: "join" };
    throw notAccepted();
  }
}

function notAccepted(): FabricError {
  return new FabricError("unauthorized", "The token was not accepted by this tracker");
}
