/**
 * The typed client of the tracker's API, used by the CLI and by agents. `FabricClient` is built in
 * layers, one file each, every one a group of the API's routes over the transport below it:
 * tracker_connection.ts (HTTPS to the trackers, errors), agent_calls.ts, job_calls.ts,
 * channel_calls.ts, and here the administration: tokens, secrets, the trackers, retention, the audit
 * trail. No layer calls another's methods: the order of the chain means nothing.
 */
import type {
  AuditResponse,
  CreateTokenRequest,
  CreateTokenResponse,
  GcResponse,
  SecretView,
  SetSecretResponse,
  TokenView,
  TrackersResponse,
} from "../protocol/mod.ts";
import { ChannelCalls } from "./channel_calls.ts";
import { learntUrls } from "./tracker_urls.ts";

export class FabricClient extends ChannelCalls {
  async listTokens(): Promise<TokenView[]> {
    return (await this.json<{ tokens: TokenView[] }>("GET", "/v1/tokens")).tokens;
  }
  createToken(request: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.json("POST", "/v1/tokens", { body: request });
  }
  revokeToken(name: string): Promise<{ name: string; revoked: number }> {
    return this.json("DELETE", `/v1/tokens/${encodeURIComponent(name)}`);
  }
  /** A new join token; the old one is refused from now on. */
  async rotateJoinToken(): Promise<string> {
    return (await this.json<{ token: string }>("POST", "/v1/join-token/rotate", { body: {} })).token;
  }
  /** Run retention now, for about `budgetMs` (`more` in the answer: call again). */
  gc(budgetMs: number): Promise<GcResponse> {
    return this.json("POST", "/v1/gc", { body: { budgetMs }, timeoutMs: budgetMs + this.timeoutMs });
  }

  /** A page of the audit trail, newest first; `before`: the `next` of the page before. */
  audit(
    query: { since?: number; actor?: string; action?: string; before?: number; limit: number },
  ): Promise<AuditResponse> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.since !== undefined) params.set("since", String(query.since));
    if (query.actor !== undefined) params.set("actor", query.actor);
    if (query.action !== undefined) params.set("action", query.action);
    if (query.before !== undefined) params.set("before", String(query.before));
    return this.json("GET", `/v1/audit?${params}`);
  }

  /** The trackers that share this one's store (itself alone on SQLite), and which one answered. */
  listTrackers(): Promise<TrackersResponse> {
    return this.json<TrackersResponse>("GET", "/v1/trackers");
  }

  /**
   * Ask the current tracker for the others, and go by that list from now on (see learntUrls): the
   * current one first, the others heard from lately, then `given` (the user's). Answers the list.
   */
  async learnTrackers(given: readonly string[] = []): Promise<readonly string[]> {
    const current = this.url;
    const answer = await this.listTrackers();
    this.setUrls(learntUrls(answer, { current, given, now: Date.now() }));
    return this.urls;
  }

  /** Set a secret's value (sent in the body only); `allow` replaces who may use it. */
  setSecret(name: string, value: string, allow?: string[]): Promise<SetSecretResponse> {
    return this.json("PUT", `/v1/secrets/${encodeURIComponent(name)}`, { body: { value, allow } });
  }
  async listSecrets(): Promise<SecretView[]> {
    return (await this.json<{ secrets: SecretView[] }>("GET", "/v1/secrets")).secrets;
  }
  async deleteSecret(name: string): Promise<void> {
    await this.json("DELETE", `/v1/secrets/${encodeURIComponent(name)}`);
  }
}
