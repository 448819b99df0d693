/**
 * The control plane's operations, one method per API call. Routes parse and authenticate; this
 * class decides, through the task and agent lifecycles, and answers once the change is durable. Time,
 * ids and randomness come in through options so the logic runs the same in tests.
 */
import {
  type AgentLoad,
  type CancelJobResponse,
  type ClaimRequest,
  type ClaimResponse,
  type Clock,
  type CreateTokenRequest,
  type CreateTokenResponse,
  type HelloResponse,
  type RegisterAgentResponse,
  type RegisterPeriodicResponse,
  type ReportResponse,
  type SubmitJobResponse,
  systemClock,
  type TaskEvent,
  type TokenView,
} from "../protocol/mod.ts";
import { LeaseLostError, type Store } from "../store/mod.ts";
import { AgentOperations } from "./agent_operations.ts";
import { Blobs, recordArtifacts } from "./blobs.ts";
import { reportedArtifacts } from "./reports.ts";
import { AgentLifecycle, type HelloBody, type RegisterAgentBody } from "./agent_lifecycle.ts";
import { newId } from "./auth.ts";
import { type ClaimContext, deliverable, type Delivery, waitForWork } from "./claims.ts";
import { Credentials, type Principal } from "./credentials.ts";
import type { AgentEntry } from "./entries.ts";
import { JobIntake, type SubmitOptions } from "./job_intake.ts";
import { Liveness } from "./liveness.ts";
import { loadState } from "./load.ts";
import { DEFAULT_MAX_JOB_LOGS, type LogCap } from "./log_cap.ts";
import { Probes, registerStateGauges, TrackerMetrics } from "./metrics/mod.ts";
import { DEFAULT_AUDIT_RETENTION_MS, DEFAULT_RETENTION_MS, Retention } from "./retention.ts";
import { AuditTrail } from "./audit.ts";
import { applyReport } from "./reports.ts";
import { Scheduling } from "./scheduling.ts";
import { SecretKey } from "./secret_key.ts";
import { PeriodicJobs } from "./periodic.ts";
import { trackerLauncher } from "./periodic_launcher.ts";
import type { Submitter } from "./secret_policy.ts";
import { Secrets } from "./secrets.ts";
import { FabricState } from "./state.ts";
import { StoreWriter } from "./store_writer.ts";
import { TaskLifecycle } from "./task_lifecycle.ts";
import { TokenOperations } from "./token_operations.ts";
import type { TrackerOptions } from "./tracker_options.ts";

export type { HelloBody } from "./agent_lifecycle.ts";
export type { Principal } from "./credentials.ts";
export type { TrackerOptions } from "./tracker_options.ts";

export class Tracker {
  readonly state = new FabricState();
  readonly store: Store;
  /** The one way changes reach the store. */
  readonly writer: StoreWriter;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly maxWaitMs: number;
  readonly metrics = new TrackerMetrics();
  /** /metrics and /readyz. */
  readonly probes: Probes;
  /** Deletes ended jobs after their retention (started by the server; `fabric gc` runs it now). */
  readonly retention: Retention;
  #logCap: LogCap;
  /** The secrets jobs may use (`fabric secret`). */
  readonly secrets: Secrets;
  /** Who changed what through the API (`fabric audit`). */
  readonly audit: AuditTrail;
  /** Jobs with `schedule:`, launched by the leader (started by the server while it leads). */
  readonly periodic: PeriodicJobs;
  /** Files shipped with jobs (blobs.ts). */
  readonly blobs: Blobs;
  #tasks: TaskLifecycle;
  #agents: AgentLifecycle;
  #scheduling: Scheduling;
  #liveness: Liveness;
  #claims: ClaimContext;
  #delivery: Delivery;
  #newId: () => string;
  #credentials = new Credentials();
  #tokens: TokenOperations;
  #jobs: JobIntake;
  #agentCalls: AgentOperations;
  #storeHealthy = true;
  #closing = false;
  #onLeaseLost: (error: LeaseLostError) => void;
  #log: (message: string) => void;

  private constructor(options: TrackerOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.ttlMs = options.ttlMs ?? this.heartbeatMs * 3;
    this.graceMs = options.graceMs ?? 5000;
    this.maxWaitMs = options.maxWaitMs ?? 30_000;
    this.#newId = options.newId ?? newId;
    const log = this.#log = options.log ?? (() => {});
    this.#onLeaseLost = options.onLeaseLost ?? (() => {});
    const { state, clock, metrics } = this;
    const store = options.store;
    const writer = this.writer = new StoreWriter(store, (error) => this.#storeFailed(error), {
      clock,
      observer: metrics.commitObserver,
      fence: options.fence,
    });
    const maxJobLogs = options.maxJobLogs ?? DEFAULT_MAX_JOB_LOGS;
    this.#logCap = { maxJobBytes: maxJobLogs > 0 ? maxJobLogs : Infinity, metrics };
    const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    const auditRetentionMs = options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
    this.retention = new Retention({ store, clock, retentionMs, auditRetentionMs, metrics, log });
    const agentName = (id: string) => state.agents.get(id)?.record.name;
    this.audit = new AuditTrail({ store, writer, clock, metrics, agentName });
    this.blobs = new Blobs(store, clock);
    const probes = this.probes = new Probes({ store, metrics, writeFailure: () => writer.failure, log });
    registerStateGauges(metrics.registry, { state, clock, space: () => probes.space, startedAt: metrics.startedAt });
    const schedule = () => this.#scheduling.soon();
    const tasks = this.#tasks = new TaskLifecycle({ state, writer, clock, log, schedule, metrics });
    const agentOptions = {
      ...{ state, tasks, writer, clock, log, schedule, metrics },
      ...{ newId: this.#newId, ttlMs: this.ttlMs },
    };
    const agents = this.#agents = new AgentLifecycle(agentOptions);
    this.#liveness = new Liveness({ state, tasks, agents, clock });
    const secrets = this.secrets = new Secrets({
      store: options.store,
      key: options.secretsKey ?? SecretKey.random(),
      fence: options.fence,
      clock,
      log,
    });
    this.#delivery = {
      graceMs: this.graceMs,
      secrets,
      failToStart: (task, message) =>
        tasks.finish(task, { at: clock.now(), result: { kind: "failed_to_start", message }, durationMs: 0 }),
    };
    this.#claims = {
      ...this.#delivery,
      ...{ clock, maxWaitMs: this.maxWaitMs, tasks: state.tasks },
      closing: () => this.#closing,
      flush: () => this.flush(),
    };
    const flush = () => this.flush();
    this.#tokens = new TokenOperations({
      ...{ credentials: this.#credentials, store, writer, clock, flush, log, caHash: options.caHash },
      agents: () => state.agents,
    });
    this.#jobs = new JobIntake({
      ...{ state, store, writer, tasks, secrets, metrics, clock, flush, log },
      blobs: this.blobs,
      scheduling: () => this.#scheduling,
      newId: this.#newId,
    });
    const jobs = this.#jobs;
    this.periodic = new PeriodicJobs({
      store,
      clock,
      log,
      launcher: trackerLauncher({ jobs, state, tokens: this.#credentials.tokens, clock, writer, secrets }),
    });
    this.#agentCalls = new AgentOperations({
      ...{ agents, writer, flush, log, heartbeatMs: this.heartbeatMs, ttlMs: this.ttlMs },
      approveAgents: options.approveAgents ?? false,
      scheduling: () => this.#scheduling,
    });
    this.#scheduling = new Scheduling({
      templates: () => state.templates,
      agents: () => state.agents.values(),
      random: options.random ?? Math.random,
      assign: (task, agent) => tasks.assign(task, agent),
    });
  }

  /** A tracker with the store's agents and active jobs loaded. */
  static async open(options: TrackerOptions): Promise<Tracker> {
    const tracker = new Tracker(options);
    await tracker.#credentials.load(options.store);
    await tracker.secrets.load();
    await tracker.periodic.load();
    const agents = await options.store.loadAgents();
    const active = await options.store.loadActiveJobs();
    const { state, writer, clock } = tracker;
    loadState({ state, tasks: tracker.#tasks, writer, clock, log: tracker.#log }, { agents, ...active });
    if (tracker.#logCap.maxJobBytes !== Infinity) {
      for (const job of state.jobs.values()) job.logBytes = await options.store.jobLogBytes(job.record.id);
    }
    tracker.#scheduling.soon();
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
    for (const agent of this.state.agents.values()) this.#agents.endClaim(agent);
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
    this.#tasks.stopTimers();
    this.#credentials.tokens.writeUses(this.writer);
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
    this.#tasks.stopTimers();
    this.retention.stop().catch(() => {});
    this.periodic.stop().catch(() => {});
    this.writer.abandon(new LeaseLostError(`This tracker no longer leads: ${reason}`));
  }

  // ---- credentials (token_operations.ts) -----------------------------------------------------

  get hasTokens(): boolean {
    return this.#tokens.complete;
  }
  setTokens(tokens: { admin: string; join: string }): Promise<void> {
    return this.#tokens.set(tokens);
  }
  authenticate(token: string): Principal {
    return this.#tokens.authenticate(token);
  }
  refreshTokens(): Promise<void> {
    return this.#tokens.refresh();
  }
  listTokens(): TokenView[] {
    return this.#tokens.list();
  }
  createToken(request: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.#tokens.create(request);
  }
  revokeToken(name: string): Promise<{ name: string; revoked: number }> {
    return this.#tokens.revoke(name);
  }
  rotateJoinToken(): Promise<string> {
    return this.#tokens.rotateJoin();
  }

  // ---- agents (agent_operations.ts) ----------------------------------------------------------

  registerAgent(request: RegisterAgentBody, options: { byAdmin?: boolean } = {}): Promise<RegisterAgentResponse> {
    return this.#agentCalls.register(request, options);
  }
  approveAgent(name: string): Promise<{ name: string; approved: boolean }> {
    return this.#agentCalls.approve(name);
  }
  removeAgent(name: string): Promise<{ name: string; lost: number }> {
    return this.#agentCalls.remove(name);
  }
  hello(agentId: string, request: HelloBody): Promise<HelloResponse> {
    return this.#agentCalls.hello(agentId, request);
  }
  heartbeat(agentId: string, load: AgentLoad) {
    return this.#agentCalls.heartbeat(agentId, load);
  }
  leave(agentId: string): Promise<void> {
    return this.#agentCalls.leave(agentId);
  }
  drain(agent: AgentEntry | string, graceMs: number) {
    return this.#agentCalls.drain(agent, graceMs);
  }
  selfDrain(agentId: string, graceMs: number) {
    return this.#agentCalls.selfDrain(agentId, graceMs);
  }
  resume(name: string): Promise<{ name: string }> {
    return this.#agentCalls.resume(name);
  }
  setWeight(name: string, weight: number): Promise<void> {
    return this.#agentCalls.setWeight(name, weight);
  }

  /** Long poll: new assignments for the agent, and attempts it holds that it must stop. */
  async claim(agentId: string, request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    const agent = this.#agents.byId(agentId);
    this.#agents.seen(agent);
    return await waitForWork(agent, request, { ...this.#claims, signal });
  }

  /** Apply an agent's events in order. Reports for an attempt that is not current are refused. */
  async report(agentId: string, events: TaskEvent[]): Promise<ReportResponse> {
    const agent = this.#agents.byId(agentId);
    this.#agents.seen(agent);
    const context = { state: this.state, tasks: this.#tasks, writer: this.writer, logCap: this.#logCap };
    await recordArtifacts(this.store, reportedArtifacts(this.state, agentId, events), {
      now: this.clock.now(),
      log: this.#log,
    });
    const stale = applyReport(agent, events, context);
    // The slots these reports freed are filled now, and the agent gets its new work in this answer
    // (taken before the commit wakes the agent's long poll, which then has nothing to send).
    this.#scheduling.now();
    const assignments = deliverable(agent, new Set(), { ...this.#delivery, now: this.clock.now() });
    await this.flush();
    return { stale, assignments };
  }

  /** Mark silent agents down (their tasks are lost and queued again), and the rest of the periodic sweep (liveness.ts). */
  async checkLiveness(intervalMs = 0): Promise<void> {
    const expired = this.#liveness.sweep(intervalMs);
    if (expired.length > 0 || this.writer.pending) await this.flush();
  }

  // ---- jobs (job_intake.ts) ------------------------------------------------------------------

  submitJob(spec: unknown, options: SubmitOptions = {}): Promise<SubmitJobResponse> {
    return this.#jobs.submit(spec, options);
  }
  rerunJob(jobId: string, options: { failedOnly: boolean; submitter: Submitter }) {
    return this.#jobs.rerun(jobId, options);
  }
  cancelJob(jobId: string): Promise<CancelJobResponse> {
    return this.#jobs.cancel(jobId);
  }
  /** A job file with `schedule:`, registered or replaced (`mayReplace` is asked first); nothing runs now (periodic.ts). */
  async registerPeriodic(
    spec: unknown,
    options: SubmitOptions & { mayReplace?: (owner: string | null) => void } = {},
  ): Promise<RegisterPeriodicResponse> {
    const { parsed, files, signed } = await this.#jobs.parse(spec, options);
    const { submitter, mayReplace } = options;
    return await this.periodic.register(parsed, {
      source: options.source ?? null,
      files,
      signed,
      submitter,
      mayReplace,
    });
  }
}
