/**
 * The control plane's operations, one method per API call. Routes parse and authenticate; this
 * class decides, through the task and agent lifecycles, and answers once the change is durable. Time,
 * ids and randomness come in through options so the logic runs the same in tests.
 */
import type {
  AgentLoad,
  CancelJobResponse,
  ClaimRequest,
  ClaimResponse,
  Clock,
  CreateTokenRequest,
  CreateTokenResponse,
  HelloResponse,
  PooledClaims,
  PooledClaimsResponse,
  RegisterAgentResponse,
  RegisterPeriodicResponse,
  RelayedHeartbeats,
  ReportResponse,
  SubmitJobResponse,
  TaskEvent,
  TokenView,
} from "../protocol/mod.ts";
import { LeaseLostError, type Store } from "../store/mod.ts";
import type { HelloBody, RegisterAgentBody } from "./agent_lifecycle.ts";
import type { AuditTrail } from "./audit.ts";
import { type Blobs, recordArtifacts } from "./blobs.ts";
import type { Channels } from "./channels.ts";
import { deliverable, waitForWork } from "./claims.ts";
import type { Principal } from "./credentials.ts";
import type { AgentEntry } from "./entries.ts";
import type { SubmitOptions } from "./job_intake.ts";
import { loadTracker } from "./load.ts";
import type { Probes, TrackerMetrics } from "./metrics/mod.ts";
import type { PeriodicJobs } from "./periodic.ts";
import { applyReport, reportedArtifacts } from "./reports.ts";
import type { Retention } from "./retention.ts";
import type { Submitter } from "./secret_policy.ts";
import type { Secrets } from "./secrets.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import { type TrackerParts, wireTracker } from "./tracker_parts.ts";
import type { TrackerOptions } from "./tracker_options.ts";

export type { HelloBody } from "./agent_lifecycle.ts";
export type { Principal } from "./credentials.ts";
export type { TrackerOptions } from "./tracker_options.ts";

export class Tracker {
  readonly state: FabricState;
  readonly store: Store;
  /** The one way changes reach the store. */
  readonly writer: StoreWriter;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly maxWaitMs: number;
  readonly metrics: TrackerMetrics;
  /** /metrics and /readyz. */
  readonly probes: Probes;
  /** Deletes ended jobs after their retention (started by the server; `fabric gc` runs it now). */
  readonly retention: Retention;
  /** The secrets jobs may use (`fabric secret`). */
  readonly secrets: Secrets;
  /** Who changed what through the API (`fabric audit`). */
  readonly audit: AuditTrail;
  /** Jobs with `schedule:`, launched by the leader (started by the server while it leads). */
  readonly periodic: PeriodicJobs;
  /** Files shipped with jobs (blobs.ts). */
  readonly blobs: Blobs;
  /** Channels' keys and their watches (channels.ts). */
  readonly channels: Channels;
  #p: TrackerParts;
  #storeHealthy = true;
  #closing = false;
  #onLeaseLost: (error: LeaseLostError) => void;
  #log: (message: string) => void;

  private constructor(options: TrackerOptions) {
    this.#onLeaseLost = options.onLeaseLost ?? (() => {});
    const parts = this.#p = wireTracker(options, {
      storeFailed: (error) => this.#storeFailed(error),
      flush: () => this.flush(),
      closing: () => this.#closing,
    });
    this.#log = parts.log;
    ({ state: this.state, store: this.store, writer: this.writer, clock: this.clock, metrics: this.metrics } = parts);
    ({ probes: this.probes, retention: this.retention, secrets: this.secrets, audit: this.audit } = parts);
    ({ periodic: this.periodic, blobs: this.blobs, channels: this.channels } = parts);
    ({ heartbeatMs: this.heartbeatMs, ttlMs: this.ttlMs } = parts.timing);
    ({ graceMs: this.graceMs, maxWaitMs: this.maxWaitMs } = parts.timing);
  }

  /** A tracker with the store's agents and active jobs loaded. */
  static async open(options: TrackerOptions): Promise<Tracker> {
    const tracker = new Tracker(options);
    await loadTracker(tracker.#p, options.store);
    await tracker.writer.flush();
    return tracker;
  }

  #storeFailed(error: unknown): void {
    if (error instanceof LeaseLostError) return this.#onLeaseLost(error);
    if (this.#storeHealthy) this.#log(`store write failed: ${(error as Error).message}`);
    this.#storeHealthy = false;
  }

  /** Resolves when every change so far is durable. */
  async flush(): Promise<void> {
    await this.writer.flush();
    if (!this.#storeHealthy) {
      this.#storeHealthy = true;
      this.#log("store writes succeed again");
    }
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Answer every long poll now, so a stopping server is not held up by them. */
  releaseWaiters(): void {
    this.#closing = true;
    this.channels.release();
    for (const agent of this.state.agents.values()) this.#p.agents.endClaim(agent);
    this.#p.claimPools.release();
    for (const job of this.state.jobs.values()) job.changed.notify();
    for (const task of this.state.tasks.values()) task.changed?.notify();
  }

  /** Release long polls, write what is pending, and close the store. */
  async close(): Promise<void> {
    await this.stop();
    await this.store.close();
  }

  /** Release long polls and write what is pending; the store stays open (its lease is let go after). */
  async stop(): Promise<void> {
    this.releaseWaiters();
    this.#p.tasks.stopTimers();
    this.#p.credentials.tokens.writeUses(this.writer);
    await this.retention.stop();
    await this.periodic.stop();
    await this.flush().catch((error) => this.#log(`could not write the last changes: ${error.message}`));
    this.writer.stop();
  }

  /**
   * This tracker no longer leads: it stops at once (long polls answered, timers stopped) and writes
   * nothing more, not even what is pending: that was never acknowledged, and the leader now decides.
   */
  abandon(reason: string): void {
    this.releaseWaiters();
    this.#p.tasks.stopTimers();
    this.retention.stop().catch(() => {});
    this.periodic.stop().catch(() => {});
    this.writer.abandon(new LeaseLostError(`This tracker no longer leads: ${reason}`));
  }

  // ---- credentials (token_operations.ts) -----------------------------------------------------

  get hasTokens(): boolean {
    return this.#p.tokens.complete;
  }
  setTokens(tokens: { admin: string; join: string }): Promise<void> {
    return this.#p.tokens.set(tokens);
  }
  authenticate(token: string): Principal {
    return this.#p.tokens.authenticate(token);
  }
  refreshTokens(): Promise<void> {
    return this.#p.tokens.refresh();
  }
  listTokens(): TokenView[] {
    return this.#p.tokens.list();
  }
  createToken(request: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.#p.tokens.create(request);
  }
  revokeToken(name: string): Promise<{ name: string; revoked: number }> {
    return this.#p.tokens.revoke(name);
  }
  rotateJoinToken(): Promise<string> {
    return this.#p.tokens.rotateJoin();
  }

  // ---- agents (agent_operations.ts) ----------------------------------------------------------

  registerAgent(request: RegisterAgentBody, options: { byAdmin?: boolean } = {}): Promise<RegisterAgentResponse> {
    return this.#p.agentCalls.register(request, options);
  }
  approveAgent(name: string): Promise<{ name: string; approved: boolean }> {
    return this.#p.agentCalls.approve(name);
  }
  removeAgent(name: string): Promise<{ name: string; lost: number }> {
    return this.#p.agentCalls.remove(name);
  }
  hello(agentId: string, request: HelloBody): Promise<HelloResponse> {
    return this.#p.agentCalls.hello(agentId, request);
  }
  heartbeat(agentId: string, load: AgentLoad) {
    return this.#p.agentCalls.heartbeat(agentId, load);
  }
  relayedHeartbeats(batch: RelayedHeartbeats) {
    return this.#p.agentCalls.relayedHeartbeats(batch);
  }
  leave(agentId: string): Promise<void> {
    return this.#p.agentCalls.leave(agentId);
  }
  drain(agent: AgentEntry | string, graceMs: number) {
    return this.#p.agentCalls.drain(agent, graceMs);
  }
  selfDrain(agentId: string, graceMs: number) {
    return this.#p.agentCalls.selfDrain(agentId, graceMs);
  }
  resume(name: string): Promise<{ name: string }> {
    return this.#p.agentCalls.resume(name);
  }
  setWeight(name: string, weight: number): Promise<void> {
    return this.#p.agentCalls.setWeight(name, weight);
  }

  /** Long poll: new assignments for the agent, and attempts it holds that it must stop. */
  async claim(agentId: string, request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    const agent = this.#p.agents.byId(agentId);
    this.#p.agents.liveness.seen(agent);
    return await waitForWork(agent, request, { ...this.#p.claims, signal });
  }

  /** A follower's agents' claims, in its pool (claim_pools.ts). */
  pooledClaims(request: PooledClaims, signal?: AbortSignal): Promise<PooledClaimsResponse> {
    return this.#p.claimPools.handle(request, signal);
  }

  /** Apply an agent's events in order. Reports for an attempt that is not current are refused. */
  async report(agentId: string, events: TaskEvent[]): Promise<ReportResponse> {
    const agent = this.#p.agents.byId(agentId);
    this.#p.agents.liveness.seen(agent);
    const kept = await recordArtifacts(this.store, reportedArtifacts(this.state, agentId, events), {
      now: this.clock.now(),
      log: this.#log,
    });
    const context = { state: this.state, tasks: this.#p.tasks, writer: this.writer, logCap: this.#p.logCap, kept };
    const stale = applyReport(agent, events, context);
    // The slots these reports freed are filled now, and the agent gets its new work in this answer
    // (taken before the commit wakes the agent's long poll, which then has nothing to send).
    this.#p.scheduling.now();
    const assignments = deliverable(agent, new Set(), { ...this.#p.delivery, now: this.clock.now() });
    await this.flush();
    return { stale, assignments };
  }

  /** Mark silent agents down (their tasks are lost and queued again), and the rest of the periodic sweep (liveness.ts). */
  async checkLiveness(intervalMs = 0): Promise<void> {
    const expired = this.#p.liveness.sweep(intervalMs);
    if (expired.length > 0 || this.writer.pending) await this.flush();
  }

  // ---- jobs (job_intake.ts) ------------------------------------------------------------------

  submitJob(spec: unknown, options: SubmitOptions = {}): Promise<SubmitJobResponse> {
    return this.#p.jobs.submit(spec, options);
  }
  rerunJob(jobId: string, options: { failedOnly: boolean; submitter: Submitter }) {
    return this.#p.jobs.rerun(jobId, options);
  }
  cancelJob(jobId: string): Promise<CancelJobResponse> {
    return this.#p.jobs.cancel(jobId);
  }
  /** A job file with `schedule:`, registered or replaced (`mayReplace` is asked first); nothing runs now (periodic.ts). */
  async registerPeriodic(
    spec: unknown,
    options: SubmitOptions & { mayReplace?: (owner: string | null) => void } = {},
  ): Promise<RegisterPeriodicResponse> {
    const { parsed, files, signed } = await this.#p.jobs.parse(spec, options);
    const { submitter, mayReplace } = options;
    return await this.periodic.register(parsed, {
      source: options.source ?? null,
      files,
      packs: options.packs ?? {},
      signed,
      submitter,
      mayReplace,
    });
  }
}
