/**
 * The worker daemon. It pins the tracker's CA, registers once (then reuses its credential), and runs
 * three loops: heartbeats, one long-poll claim for work and stop orders, and the reporter.
 */
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { FabricClient, TrackerUnreachableError } from "../client/mod.ts";
import { type CgroupSupport, detectCgroup, probeCapabilities } from "../exec/mod.ts";
import {
  type AgentResources,
  type Assignment,
  type AttemptRef,
  type Capabilities,
  FABRIC_VERSION,
  FabricError,
  type Labels,
} from "../protocol/mod.ts";
import { caHash, fetchPinnedCa } from "../tls/mod.ts";
import { type AgentIdentity, loadIdentity, loadSavedCa, saveCa, saveIdentity } from "./credential.ts";
import { sampleLoad } from "./load.ts";
import { Reporter } from "./reporter.ts";
import { TaskRun } from "./task_runner.ts";

export interface AgentOptions {
  dataDir: string;
  /** `host:port` of the tracker; remembered after the first join. */
  join?: string;
  /** The join token; needed only until the agent has its own credential. */
  token?: string;
  /** `sha256:HEX` of the tracker CA's public key. */
  caHash?: string;
  /** The tracker's CA, as PEM, when given as a file instead of a hash. */
  caPem?: string;
  name?: string;
  labels?: Labels;
  slots?: number;
  /** How long a stopping agent lets running tasks go on before handing them back. */
  stopGraceMs?: number;
  /** Let tasks that set `sandbox: false` run without bubblewrap. */
  allowUnsandboxed?: boolean;
  /** Placement weight (utilisation x weight); kept by the tracker when omitted. */
  weight?: number;
  /** Capacity offered to tasks; by default the machine's CPUs, memory and the data directory's free disk. */
  resources?: Partial<AgentResources>;
  log?: (message: string) => void;
}

export interface AgentHandle {
  readonly agentId: string;
  readonly name: string;
  /** Settles when the agent has stopped; rejects if it stopped on an error. */
  readonly done: Promise<void>;
  /** Stop taking work, hand back running tasks after the grace period, deliver reports, leave. */
  stop(): Promise<void>;
}

const CLAIM_WAIT_MS = 25_000;

export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  const log = options.log ?? (() => {});
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const saved = await loadIdentity(options.dataDir);
  const trackerAddress = normalizeAddress(options.join ?? saved?.tracker);
  if (!trackerAddress) {
    throw new FabricError("bad_request", "This agent has not joined a tracker yet: give --join HOST:PORT and --token");
  }
  const caPem = await resolveCa(options, trackerAddress, saved);
  const slots = options.slots ?? navigator.hardwareConcurrency;
  const probed = await probeCapabilities({ dataDir: options.dataDir });
  if (!probed.sandbox) {
    log(`sandboxing is not available: ${probed.sandboxError}; sandboxed tasks will not be placed here`);
  }
  const capabilities: Capabilities = {
    sandbox: probed.sandbox,
    unsandboxed: options.allowUnsandboxed ?? false,
    cgroup: probed.cgroup,
    deno: probed.deno !== null,
    git: probed.git,
  };
  const advertised = {
    labels: options.labels ?? {},
    slots,
    version: FABRIC_VERSION,
    os: Deno.build.os,
    arch: Deno.build.arch,
    capabilities,
    resources: machineResources(options.dataDir, options.resources),
    weight: options.weight,
  };

  const client = new FabricClient({ url: `https://${trackerAddress}`, token: "", caPem });
  let identity: AgentIdentity;
  let heartbeatMs: number;
  const sameTracker = saved && saved.tracker === trackerAddress && (!options.name || options.name === saved.name);
  try {
    if (sameTracker) {
      client.setToken(saved.credential);
      const hello = await client.hello({ ...advertised, holding: [] });
      identity = saved;
      heartbeatMs = hello.heartbeatMs;
    } else {
      if (!options.token) {
        throw new FabricError("bad_request", `To join ${trackerAddress} this agent needs the join token (--token)`);
      }
      client.setToken(options.token);
      const name = options.name ?? saved?.name ?? Deno.hostname();
      const registered = await client.register({ name, ...advertised });
      identity = {
        tracker: trackerAddress,
        agentId: registered.agentId,
        name: registered.name,
        credential: registered.credential,
      };
      await saveIdentity(options.dataDir, identity);
      client.setToken(identity.credential);
      heartbeatMs = registered.heartbeatMs;
    }
  } catch (error) {
    client.close();
    throw error;
  }
  log(`agent ${identity.name} joined ${trackerAddress} (${slots} slots; ${describeCapabilities(capabilities)})`);
  const runtime: Runtime = { capabilities, cgroup: probed.cgroup ? await detectCgroup() : null, deno: probed.deno };
  return new AgentLoop(client, identity, slots, heartbeatMs, options, runtime, log).start();
}

interface Runtime {
  capabilities: Capabilities;
  cgroup: CgroupSupport | null;
  deno: string | null;
}

function describeCapabilities(c: Capabilities): string {
  const parts = [
    c.sandbox ? "sandbox" : "no sandbox",
    c.cgroup ? `memory limits (cgroup ${c.cgroup})` : "no memory limits",
    c.deno ? "deno" : "no deno",
    c.git ? "git" : "no git",
  ];
  if (c.unsandboxed) parts.push("unsandboxed allowed");
  return parts.join(", ");
}

function machineResources(dataDir: string, given: Partial<AgentResources> | undefined): AgentResources {
  let disk = 0;
  try {
    const fs = statfsSync(dataDir);
    disk = Number(fs.bavail) * Number(fs.bsize);
  } catch { /* unknown: tasks asking for disk will not fit here */ }
  return {
    cpu: given?.cpu ?? navigator.hardwareConcurrency,
    memory: given?.memory ?? Deno.systemMemoryInfo().total,
    disk: given?.disk ?? disk,
  };
}

async function resolveCa(options: AgentOptions, tracker: string, saved: AgentIdentity | null): Promise<string> {
  if (options.caPem) return options.caPem;
  const savedCa = await loadSavedCa(options.dataDir);
  if (options.caHash) {
    if (savedCa && saved?.tracker === tracker && (await caHash(savedCa)) === options.caHash.toLowerCase()) {
      return savedCa;
    }
    const pem = await fetchPinnedCa(tracker, options.caHash);
    await saveCa(options.dataDir, pem);
    return pem;
  }
  if (savedCa) return savedCa;
  throw new FabricError(
    "bad_request",
    "Give the tracker's CA: --ca-hash sha256:HEX (printed by the tracker) or --ca FILE",
  );
}

function normalizeAddress(address: string | undefined): string | undefined {
  return address?.replace(/^https:\/\//, "").replace(/\/+$/, "");
}

class AgentLoop {
  #client: FabricClient;
  #identity: AgentIdentity;
  #slots: number;
  #heartbeatMs: number;
  #options: AgentOptions;
  #runtime: Runtime;
  #log: (message: string) => void;
  #runs = new Map<string, TaskRun>();
  #reporter: Reporter;
  #stopping = false;
  #claimAbort = new AbortController();
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  #fatal: ((error: Error) => void) | null = null;
  #stopped: Promise<void> | null = null;

  constructor(
    client: FabricClient,
    identity: AgentIdentity,
    slots: number,
    heartbeatMs: number,
    options: AgentOptions,
    runtime: Runtime,
    log: (message: string) => void,
  ) {
    this.#client = client;
    this.#identity = identity;
    this.#slots = slots;
    this.#heartbeatMs = heartbeatMs;
    this.#options = options;
    this.#runtime = runtime;
    this.#log = log;
    this.#reporter = new Reporter({ client, log, onStale: (ref) => this.#runs.get(key(ref))?.markStale() });
  }

  start(): AgentHandle {
    const reporterDone = this.#reporter.run();
    const fatal = new Promise<never>((_, reject) => (this.#fatal = reject));
    const claimDone = this.#claimLoop();
    this.#heartbeat();
    const done = Promise.race([fatal, Promise.all([claimDone, reporterDone]).then(() => {})]).finally(() => {
      clearTimeout(this.#heartbeatTimer);
      this.#client.close();
    });
    done.catch(() => {});
    return {
      agentId: this.#identity.agentId,
      name: this.#identity.name,
      done,
      stop: () => this.#stop(),
    };
  }

  #holding(): AttemptRef[] {
    const refs = new Map<string, AttemptRef>();
    for (const run of this.#runs.values()) refs.set(key(run.ref), run.ref);
    for (const ref of this.#reporter.pendingAttempts()) refs.set(key(ref), ref);
    return [...refs.values()];
  }

  async #claimLoop(): Promise<void> {
    let backoff = 100;
    let failing = false;
    while (!this.#stopping) {
      try {
        const response = await this.#client.claim(
          { holding: this.#holding(), waitMs: CLAIM_WAIT_MS },
          this.#claimAbort.signal,
        );
        if (failing) this.#log("the tracker is back");
        failing = false;
        backoff = 100;
        for (const ref of response.stop) this.#runs.get(key(ref))?.stop();
        for (const assignment of response.assignments) this.#start(assignment);
      } catch (error) {
        if (this.#stopping) break;
        if (this.#isFatal(error)) return;
        if (!failing) this.#log(`cannot claim work: ${(error as Error).message}; retrying`);
        failing = true;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  #start(assignment: Assignment): void {
    const ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    if (this.#runs.has(key(ref)) || this.#stopping) return;
    const run = new TaskRun(assignment, {
      dataDir: this.#options.dataDir,
      workRoot: join(this.#options.dataDir, "work"),
      gitCacheDir: join(this.#options.dataDir, "cache", "git"),
      agentName: this.#identity.name,
      reporter: this.#reporter,
      basePath: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      agentEnv: Deno.env.toObject(),
      sandbox: this.#runtime.capabilities.sandbox,
      allowUnsandboxed: this.#runtime.capabilities.unsandboxed,
      cgroup: this.#runtime.cgroup,
      deno: this.#runtime.deno,
      log: this.#log,
    });
    this.#runs.set(key(ref), run);
    run.done.finally(() => this.#runs.delete(key(ref)));
  }

  #heartbeat(): void {
    if (this.#stopping) return;
    const load = sampleLoad(this.#runs.size, this.#slots);
    this.#client.heartbeat({ load }).then(
      (response) => (this.#heartbeatMs = response.heartbeatMs),
      (error) => {
        if (!this.#isFatal(error) && !(error instanceof TrackerUnreachableError)) {
          this.#log(`heartbeat failed: ${(error as Error).message}`);
        }
      },
    ).finally(() => {
      if (!this.#stopping) this.#heartbeatTimer = setTimeout(() => this.#heartbeat(), this.#heartbeatMs);
    });
  }

  /** A refused credential cannot get better by retrying: stop with the reason. */
  #isFatal(error: unknown): boolean {
    if (error instanceof FabricError && (error.code === "unauthorized" || error.code === "forbidden")) {
      this.#stopping = true;
      for (const run of this.#runs.values()) run.release("the agent's credential was refused");
      this.#reporter.stop();
      this.#fatal?.(
        new FabricError(
          "unauthorized",
          `The tracker refused this agent's credential (${error.message}); join again with --token`,
        ),
      );
      return true;
    }
    return false;
  }

  #stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      clearTimeout(this.#heartbeatTimer);
      this.#claimAbort.abort();
      const grace = this.#options.stopGraceMs ?? 0;
      const runs = [...this.#runs.values()];
      if (runs.length > 0 && grace > 0) {
        this.#log(`stopping: waiting up to ${grace}ms for ${runs.length} running task(s)`);
        await Promise.race([Promise.all(runs.map((r) => r.done)), sleep(grace)]);
      }
      for (const run of this.#runs.values()) run.release("the agent is stopping");
      await Promise.all([...this.#runs.values()].map((r) => r.done));
      if (!(await this.#reporter.drained(5000))) {
        this.#log(`stopping with ${this.#reporter.size} undelivered event(s)`);
      }
      this.#reporter.stop();
      await this.#client.leave().catch((error) => this.#log(`could not tell the tracker it leaves: ${error.message}`));
    })();
    return this.#stopped;
  }
}

function key(ref: AttemptRef): string {
  return `${ref.taskId}#${ref.attempt}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
