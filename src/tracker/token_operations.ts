/**
 * The API's token calls (`fabric token`, `rotate-join`, the first start's tokens), each answered once
 * its change is durable. Who a token is, and the registry itself, are credentials.ts's.
 */
import type { Clock, CreateTokenRequest, CreateTokenResponse, TokenView } from "../protocol/mod.ts";
import type { Store } from "../store/mod.ts";
import type { AgentEntry } from "./entries.ts";
import type { Credentials, Principal } from "./credentials.ts";
import { SECRET_NAMES } from "./shared_secrets.ts";
import type { StoreWriter } from "./store_writer.ts";
import { iso } from "./views.ts";

export interface TokenOperationsOptions {
  credentials: Credentials;
  store: Store;
  writer: StoreWriter;
  clock: Clock;
  agents: () => ReadonlyMap<string, AgentEntry>;
  flush: () => Promise<void>;
  log: (message: string) => void;
  /** The trackers' CA hash, for a new join token to name. */
  caHash?: () => string | undefined;
}

export class TokenOperations {
  #o: TokenOperationsOptions;

  constructor(options: TokenOperationsOptions) {
    this.#o = options;
  }

  get complete(): boolean {
    return this.#o.credentials.complete;
  }

  /** The first start's tokens: keep only the hashes of the admin token (named "admin") and the join token. */
  async set(tokens: { admin: string; join: string }): Promise<void> {
    this.#o.credentials.set(tokens, this.#o.writer, this.#o.clock.now());
    await this.#o.flush();
  }

  /** Who `token` is; a FabricError("unauthorized") saying why it is refused. */
  authenticate(token: string): Principal {
    const { credentials, clock, writer } = this.#o;
    return credentials.authenticate(token, this.#o.agents(), { now: clock.now(), writer });
  }

  /** Read the tokens again if `fabric tracker reset-admin-token` changed them; called every second or so. */
  async refresh(): Promise<void> {
    if (await this.#o.credentials.refresh(this.#o.store, this.#o.flush)) {
      this.#o.log("the tokens were changed in the store (reset-admin-token): read again");
    }
  }

  list(): TokenView[] {
    return this.#o.credentials.tokens.list(this.#o.clock.now());
  }

  async create(request: CreateTokenRequest): Promise<CreateTokenResponse> {
    const now = this.#o.clock.now();
    const expiresAt = request.expiresInMs === undefined ? null : now + request.expiresInMs;
    const { token, record } = this.#o.credentials.tokens.create({ ...request, expiresAt }, now, this.#o.writer);
    await this.#o.flush();
    this.#o.log(`token ${record.name} created (role ${record.role})`);
    return { name: record.name, role: record.role, token, expiresAt: iso(expiresAt) };
  }

  async revoke(name: string): Promise<{ name: string; revoked: number }> {
    const revoked = this.#o.credentials.tokens.revoke(name, this.#o.clock.now(), this.#o.writer);
    await this.#o.flush();
    this.#o.log(`token ${name} revoked`);
    return { name, revoked: revoked.length };
  }

  /** A new join token; the old one is refused from now on (agents that joined keep their credentials). */
  async rotateJoin(): Promise<string> {
    const token = this.#o.credentials.rotateJoin(this.#o.writer, this.#o.caHash?.());
    await this.#o.flush();
    // A shared store hands its join token to every tracker's data directory (shared_secrets.ts).
    await this.#o.store.secrets?.setSecrets({ [SECRET_NAMES.joinToken]: token });
    this.#o.log("the join token was rotated");
    return token;
  }
}
