/**
 * What a Tracker is made of, wired together once: the state and its one write path, the task and
 * agent lifecycles, scheduling, the operations each group of API calls goes to, and the services the
 * server starts (retention, periodic jobs, probes). Tracker (tracker.ts) holds these and answers the
 * API through them; building them here keeps that class to the calls themselves.
 */
import { type Clock, FabricError, systemClock } from "../protocol/mod.ts";
import type { Store } from "../store/mod.ts";
import { AgentOperations } from "./agent_operations.ts";
import { AgentLifecycle } from "./agent_lifecycle.ts";
import { AuditTrail } from "./audit.ts";
import { hashesEqual, newId as randomId } from "./auth.ts";
import { Blobs } from "./blobs.ts";
import { Channels } from "./channels.ts";
import { ClaimPools } from "./claim_pools.ts";
import { type ClaimContext, type Delivery, waitForWork } from "./claims.ts";
import { Credentials } from "./credentials.ts";
import { JobIntake } from "./job_intake.ts";
import { Liveness } from "./liveness.ts";
import { DEFAULT_MAX_JOB_LOGS, type LogCap } from "./log_cap.ts";
import { Probes, registerStateGauges, TrackerMetrics } from "./metrics/mod.ts";
import { PeriodicJobs } from "./periodic.ts";
import { trackerLauncher } from "./periodic_launcher.ts";
import { DEFAULT_AUDIT_RETENTION_MS, DEFAULT_RETENTION_MS, Retention } from "./retention.ts";
import { Scheduling } from "./scheduling.ts";
import { type Submitter, TRACKER_ITSELF } from "./secret_policy.ts";
import { SecretKey } from "./secret_key.ts";
import { Secrets } from "./secrets.ts";
import { FabricState } from "./state.ts";
import { StoreWriter } from "./store_writer.ts";
import { TaskLifecycle } from "./task_lifecycle.ts";
import { TokenOperations } from "./token_operations.ts";
import type { TrackerOptions } from "./tracker_options.ts";

export interface TrackerParts {
  state: FabricState;
  store: Store;
  writer: StoreWriter;
  clock: Clock;
  timing: { heartbeatMs: number; ttlMs: number; graceMs: number; maxWaitMs: number };
  metrics: TrackerMetrics;
  probes: Probes;
  retention: Retention;
  secrets: Secrets;
  audit: AuditTrail;
  periodic: PeriodicJobs;
  blobs: Blobs;
  channels: Channels;
  logCap: LogCap;
  tasks: TaskLifecycle;
  agents: AgentLifecycle;
  scheduling: Scheduling;
  liveness: Liveness;
  claims: ClaimContext;
  /** Followers' agents' claims, held in one pool per follower (claim_pools.ts). */
  claimPools: ClaimPools;
  delivery: Delivery;
  credentials: Credentials;
  tokens: TokenOperations;
  jobs: JobIntake;
  agentCalls: AgentOperations;
  log: (message: string) => void;
}

/** What the parts call back into the Tracker that holds them. */
export interface TrackerHooks {
  /** A write to the store failed (a lost lease among them). */
  storeFailed(error: unknown): void;
  /** Every change so far made durable. */
  flush(): Promise<void>;
  /** The tracker is stopping: long polls answer at once. */
  closing(): boolean;
}

export function wireTracker(options: TrackerOptions, hooks: TrackerHooks): TrackerParts {
  const store = options.store;
  const clock = options.clock ?? systemClock;
  const heartbeatMs = options.heartbeatMs ?? 2000;
  const timing = {
    heartbeatMs,
    ttlMs: options.ttlMs ?? heartbeatMs * 3,
    graceMs: options.graceMs ?? 5000,
    maxWaitMs: options.maxWaitMs ?? 30_000,
  };
  const newId = options.newId ?? randomId;
  const log = options.log ?? (() => {});
  const flush = () => hooks.flush();
  const state = new FabricState();
  const metrics = new TrackerMetrics();
  const writer = new StoreWriter(store, (error) => hooks.storeFailed(error), {
    clock,
    observer: metrics.commitObserver,
    fence: options.fence,
  });
  const maxJobLogs = options.maxJobLogs ?? DEFAULT_MAX_JOB_LOGS;
  const logCap = { maxJobBytes: maxJobLogs > 0 ? maxJobLogs : Infinity, metrics };
  const retention = new Retention({
    ...{ store, clock, metrics, log },
    retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
    auditRetentionMs: options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS,
    fence: options.fence,
    onLeaseLost: (error) => (options.onLeaseLost ?? (() => {}))(error),
  });
  const agentName = (id: string) => state.agents.get(id)?.record.name;
  const audit = new AuditTrail({ store, writer, clock, metrics, agentName });
  // A tracker alone on its store (no lease's fence) is its one writer: it may trust the hashes of uploads it saw.
  const blobs = new Blobs(store, clock, { soleWriter: options.fence === undefined });
  const channels = new Channels({
    ...{ store, clock, fence: options.fence, history: options.channelHistory, maxWaitMs: timing.maxWaitMs },
    onLeaseLost: (error) => (options.onLeaseLost ?? (() => {}))(error),
    attemptLive: ({ task, attempt }) => {
      const record = state.tasks.get(task)?.record;
      return record?.attempt === attempt && (record.state === "assigned" || record.state === "running");
    },
  });
  const probes = new Probes({ store, metrics, writeFailure: () => writer.failure, log });
  registerStateGauges(metrics.registry, { state, clock, space: () => probes.space, startedAt: metrics.startedAt });
  // Built last (it assigns through the task lifecycle); what comes before asks for it when it needs it.
  let scheduling: Scheduling | null = null;
  const laterScheduling = () => scheduling!;
  const schedule = () => laterScheduling().soon();
  const tasks = new TaskLifecycle({ state, writer, clock, log, schedule, metrics });
  const agents = new AgentLifecycle({
    state,
    tasks,
    writer,
    clock,
    log,
    schedule,
    metrics,
    newId,
    ttlMs: timing.ttlMs,
  });
  const liveness = new Liveness({ state, tasks, agents, clock });
  const credentials = new Credentials();
  const secrets = new Secrets({
    store,
    key: options.secretsKey ?? SecretKey.random(),
    fence: options.fence,
    clock,
    log,
  });
  const delivery: Delivery = {
    graceMs: timing.graceMs,
    secrets,
    rightsOf: (job) => submitterNow(job.record.submittedBy, credentials, clock),
    failToStart: (task, message) =>
      tasks.finish(task, { at: clock.now(), result: { kind: "failed_to_start", message }, durationMs: 0 }),
  };
  const claims: ClaimContext = {
    ...delivery,
    ...{ clock, maxWaitMs: timing.maxWaitMs, tasks: state.tasks },
    closing: () => hooks.closing(),
    flush,
  };
  const claimPools = new ClaimPools({
    clock,
    closing: () => hooks.closing(),
    // The agent's own claim, as the leader answers it (tracker.ts), and refused as its credential would be
    // here: the follower checked it against its copy of the agent's row, which may be a moment old (the
    // agent registered again since, with a new credential, or was removed).
    claim: (agentId, credentialHash, request, signal) => {
      const agent = agents.byId(agentId);
      if (!hashesEqual(credentialHash, agent.record.credentialHash)) {
        throw new FabricError("unauthorized", "The token was not accepted by this tracker");
      }
      if (agent.record.admission === "removed") {
        throw new FabricError(
          "unauthorized",
          `Agent "${agent.record.name}" was removed from this tracker (fabric agents remove): its credential is revoked`,
        );
      }
      agents.liveness.seen(agent);
      return waitForWork(agent, request, { ...claims, signal });
    },
  });
  const tokens = new TokenOperations({
    ...{ credentials, store, writer, clock, flush, log, caHash: options.caHash },
    agents: () => state.agents,
  });
  const jobs = new JobIntake({
    ...{ state, store, writer, tasks, secrets, metrics, clock, flush, log, blobs, newId },
    scheduling: laterScheduling,
  });
  const periodic = new PeriodicJobs({
    ...{ store, clock, log },
    launcher: trackerLauncher({ jobs, state, tokens: credentials.tokens, clock, writer, secrets, blobs }),
  });
  const agentCalls = new AgentOperations({
    ...{ agents, flush, log, heartbeatMs: timing.heartbeatMs, ttlMs: timing.ttlMs },
    approveAgents: options.approveAgents ?? false,
    scheduling: laterScheduling,
  });
  scheduling = new Scheduling({
    templates: () => state.templates,
    agents: () => state.agents.values(),
    random: options.random ?? Math.random,
    assign: (task, agent) => tasks.assign(task, agent),
  });
  return {
    ...{ state, store, writer, clock, timing, metrics, probes, retention, secrets, audit, periodic, blobs, channels },
    logCap,
    ...{
      tasks,
      agents,
      scheduling,
      liveness,
      claims,
      claimPools,
      delivery,
      credentials,
      tokens,
      jobs,
      agentCalls,
      log,
    },
  };
}

/**
 * Who submitted a job, with the rights their token has now: a job from before tokens had names, or
 * from the tracker's own caller, counts as the tracker's (as its submission did).
 */
function submitterNow(name: string | null, credentials: Credentials, clock: Clock): Submitter | string {
  if (name === null) return TRACKER_ITSELF;
  return credentials.tokens.rightsOf(name, clock.now()) ??
    `the token "${name}" that submitted the job has been revoked or has expired`;
}
