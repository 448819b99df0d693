/**
 * Who a bearer token is: an agent's own credential (`ID.SECRET`), or the tracker's admin or join
 * token. Only hashes are kept, in memory and in the store.
 */
import type { Store } from "../store/mod.ts";
import { hashesEqual, hashToken, splitCredential } from "./auth.ts";
import type { AgentEntry } from "./entries.ts";
import type { StoreWriter } from "./store_writer.ts";

export type Principal = { kind: "admin" } | { kind: "join" } | { kind: "agent"; agentId: string };

const ADMIN_KEY = "admin_token_sha256";
const JOIN_KEY = "join_token_sha256";

export class Credentials {
  #adminHash = "";
  #joinHash = "";

  /** The hashes the store has (none before the first start of a data directory). */
  async load(store: Store): Promise<void> {
    this.#adminHash = (await store.getMeta(ADMIN_KEY)) ?? "";
    this.#joinHash = (await store.getMeta(JOIN_KEY)) ?? "";
  }

  get complete(): boolean {
    return this.#adminHash !== "" && this.#joinHash !== "";
  }

  /** Keep (and write) only the hashes of new admin and join tokens. */
  set(tokens: { admin: string; join: string }, writer: StoreWriter): void {
    this.#adminHash = hashToken(tokens.admin);
    this.#joinHash = hashToken(tokens.join);
    writer.meta(ADMIN_KEY, this.#adminHash);
    writer.meta(JOIN_KEY, this.#joinHash);
  }

  /** One hash per request: an agent's credential, or else the admin or join token; null for anything else. */
  authenticate(token: string, agents: ReadonlyMap<string, AgentEntry>): Principal | null {
    const parts = splitCredential(token);
    const agent = parts ? agents.get(parts.agentId) : undefined;
    if (parts && agent) {
      return hashesEqual(hashToken(parts.secret), agent.record.credentialHash)
        ? { kind: "agent", agentId: agent.record.id }
        : null;
    }
    const hash = hashToken(token);
    if (this.#adminHash && hashesEqual(hash, this.#adminHash)) return { kind: "admin" };
    if (this.#joinHash && hashesEqual(hash, this.#joinHash)) return { kind: "join" };
    return null;
  }
}
