/**
 * A real fabric on loopback for one test: a tracker process, agent processes, and the CLI as fresh
 * processes, all in a temporary directory that `stop` removes with everything still running in it.
 */
import { join } from "node:path";
import type { JobDetail } from "../src/protocol/mod.ts";
import { type CommandResult, Daemon, fabric, killProcessesUnder, waitFor } from "./process.ts";

export interface AgentSpec {
  name: string;
  slots?: number;
  labels?: string;
  extraArgs?: string[];
  /** Pin this hash instead of the tracker's (to test a wrong one). */
  caHash?: string;
  env?: Record<string, string>;
  /** Join this `HOST:PORT` instead of the tracker (a proxy in between). */
  join?: string;
  /** How the agent is given the join token: a file (default), its environment, or the command line. */
  joinTokenBy?: "file" | "env" | "flag";
  /** A command the agent is started under (its parent), e.g. a shell that leaves descriptors open for it. */
  wrap?: string[];
}

export interface ClusterOptions {
  agents?: AgentSpec[];
  /** Short heartbeats so that tests about dead agents finish quickly. */
  heartbeat?: string;
  agentTtl?: string;
  grace?: string;
  /** A postgres:// URL for the tracker's store (given in FABRIC_STORE); SQLite in its data directory if none. */
  store?: string;
  /** More flags for the tracker (`--approve-agents`, `--retention 2s`, `--metrics-listen 127.0.0.1:0`). */
  trackerArgs?: string[];
}

export class Cluster {
  readonly root: string;
  readonly options: ClusterOptions;
  tracker!: Daemon;
  port = 0;
  caHash = "";
  joinToken = "";
  adminToken = "";
  readonly agents = new Map<string, Daemon>();

  private constructor(root: string, options: ClusterOptions) {
    this.root = root;
    this.options = options;
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const root = await Deno.makeTempDir({ prefix: "fabric-test-" });
    // An agent running as root runs tasks as another user, which must reach an unsandboxed task's directory.
    await Deno.chmod(root, 0o711);
    await Deno.mkdir(join(root, "agents"), { mode: 0o711 });
    const cluster = new Cluster(root, options);
    try {
      await cluster.startTracker();
      for (const agent of options.agents ?? []) await cluster.startAgent(agent);
      if ((options.agents ?? []).length > 0) {
        await cluster.waitForAgents((options.agents ?? []).map((a) => a.name));
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get trackerDir(): string {
    return join(this.root, "tracker");
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Start (or restart, on the same port) the tracker. */
  async startTracker(): Promise<void> {
    const args = ["tracker", "--listen", `127.0.0.1:${this.port}`, "--data-dir", this.trackerDir];
    args.push("--heartbeat", this.options.heartbeat ?? "500ms");
    args.push("--agent-ttl", this.options.agentTtl ?? "2s");
    args.push("--grace", this.options.grace ?? "2s");
    args.push(...this.options.trackerArgs ?? []);
    this.tracker = new Daemon("tracker", args, this.options.store ? { FABRIC_STORE: this.options.store } : undefined);
    const match = await this.tracker.waitForOutput(/listening on https:\/\/127\.0\.0\.1:(\d+)/);
    this.port = Number(match[1]);
    this.adminToken = (await Deno.readTextFile(join(this.trackerDir, "admin.token"))).trim();
    this.joinToken = (await Deno.readTextFile(join(this.trackerDir, "join.token"))).trim();
    const hash = await this.tracker.waitForOutput(/--ca-hash (sha256:[0-9a-f]{64})|CA hash (sha256:[0-9a-f]{64})/);
    this.caHash = hash[1] ?? hash[2];
  }

  agentDir(name: string): string {
    return join(this.root, "agents", name);
  }

  /** Start an agent process joining with the join token and the pinned CA hash. */
  startAgent(spec: AgentSpec): Daemon {
    const by = spec.joinTokenBy ?? "file";
    const token = by === "file"
      ? ["--token-file", join(this.trackerDir, "join.token")]
      : by === "flag"
      ? ["--token", this.joinToken]
      : [];
    const env = by === "env" ? { FABRIC_JOIN_TOKEN: this.joinToken, ...spec.env } : spec.env;
    const args = [
      "agent",
      "--join",
      spec.join ?? `127.0.0.1:${this.port}`,
      ...token,
      "--ca-hash",
      spec.caHash ?? this.caHash,
      "--name",
      spec.name,
      "--slots",
      String(spec.slots ?? 2),
      "--data-dir",
      this.agentDir(spec.name),
      ...(spec.labels ? ["--labels", spec.labels] : []),
      ...(spec.extraArgs ?? []),
    ];
    const daemon = new Daemon(`agent ${spec.name}`, args, env, spec.wrap);
    this.agents.set(spec.name, daemon);
    return daemon;
  }

  get clientEnv(): Record<string, string> {
    return {
      FABRIC_TRACKER: this.url,
      FABRIC_TOKEN: this.adminToken,
      FABRIC_CA: join(this.trackerDir, "ca.pem"),
      FABRIC_DATA_DIR: join(this.root, "no-local-tracker"),
    };
  }

  /** The CLI against this cluster. */
  cli(args: string[], options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}) {
    return fabric(args, { ...options, env: { ...this.clientEnv, ...options.env } });
  }

  async json<T>(args: string[]): Promise<T> {
    const result = await this.cli([...args, "--json"]);
    if (result.code !== 0) throw new Error(`fabric ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  async waitForAgents(names: string[], state = "ready", timeoutMs = 20_000): Promise<void> {
    await waitFor(`agents ${names.join(", ")} to be ${state}`, async () => {
      const agents = await this.json<Array<{ name: string; state: string }>>(["agents"]);
      return names.every((n) => agents.some((a) => a.name === n && a.state === state));
    }, { timeoutMs, intervalMs: 150 });
  }

  /** Submit a job file given as text; returns the job id. */
  async submit(yaml: string, name = "job.yaml"): Promise<string> {
    const path = join(this.root, name);
    await Deno.writeTextFile(path, yaml);
    const result = await this.cli(["submit", path]);
    if (result.code !== 0) throw new Error(`submit exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim();
  }

  async writeFile(name: string, text: string): Promise<string> {
    const path = join(this.root, name);
    await Deno.writeTextFile(path, text);
    return path;
  }

  /** The job's detail once it has ended (or once `until` holds), polling through the CLI. */
  async waitForJob(jobId: string, options: { timeoutMs?: number; until?: (job: JobDetail) => boolean } = {}) {
    const until = options.until ?? ((job: JobDetail) => ["succeeded", "failed", "cancelled"].includes(job.state));
    return await waitFor(`job ${jobId}`, async () => {
      const job = await this.json<JobDetail>(["status", jobId]);
      return until(job) ? job : undefined;
    }, { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 150 });
  }

  describe(): string {
    return [this.tracker, ...this.agents.values()].filter(Boolean).map((d) => d.describe()).join("\n");
  }

  /** Stop every process this cluster started (and anything its tasks left), then remove its directory. */
  async stop(): Promise<void> {
    const daemons = [...this.agents.values(), ...(this.tracker ? [this.tracker] : [])];
    await Promise.all(daemons.map((d) => d.stop("SIGTERM", 5000)));
    await killProcessesUnder(this.root);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

export type { CommandResult };
