/**
 * A fabric on loopback for one workload: a tracker process, real agent processes, the in-process
 * client, and the CLI as fresh processes, all inside one temporary directory that `stop` removes.
 */
import { join } from "node:path";
import { FabricClient } from "../src/client/mod.ts";
import { findExecutable } from "../src/exec/mod.ts";
import { killProcessesUnder } from "../testing/process.ts";
import { fabric, MAIN, Proc, type RunResult } from "./procs.ts";

export interface TrackerFlags {
  /** How often agents heartbeat (`--heartbeat`); the tracker's default otherwise. */
  heartbeat?: string;
  /** A postgres:// URL for the tracker's store (in FABRIC_STORE); SQLite in its data directory if none. */
  store?: string;
  /** More flags for `deno run` of each tracker (e.g. `--cpu-prof`, bench/heartbeat_profile.ts). */
  denoFlags?: string[];
}

export interface AgentFlags {
  name: string;
  slots: number;
  allowUnsandboxed?: boolean;
  extraArgs?: string[];
}

/** What a started tracker tells its clients and agents. */
interface TrackerInfo {
  root: string;
  tracker: Proc;
  url: string;
  caPem: string;
  caFile: string;
  adminToken: string;
  joinToken: string;
  caHash: string;
}

/** `deno run` of a tracker on a free loopback port with its data in `dataDir`. */
function trackerArgs(dataDir: string, flags: TrackerFlags): string[] {
  const args = ["run", "-A", "--quiet", ...(flags.denoFlags ?? []), MAIN, "tracker", "--listen", "127.0.0.1:0"];
  args.push("--data-dir", dataDir);
  if (flags.heartbeat) args.push("--heartbeat", flags.heartbeat);
  return args;
}

export class BenchCluster {
  readonly root: string;
  readonly tracker: Proc;
  readonly url: string;
  readonly caPem: string;
  readonly caFile: string;
  readonly adminToken: string;
  readonly joinToken: string;
  readonly caHash: string;
  readonly agents: Proc[] = [];
  /** Trackers started after the first on its PostgreSQL store (`startFollower`). */
  readonly followers: Proc[] = [];
  #store: string | undefined;
  #heartbeat: string | undefined;
  #denoFlags: string[] = [];
  #client: FabricClient | null = null;

  private constructor(info: TrackerInfo) {
    this.root = info.root;
    this.tracker = info.tracker;
    this.url = info.url;
    this.caPem = info.caPem;
    this.caFile = info.caFile;
    this.adminToken = info.adminToken;
    this.joinToken = info.joinToken;
    this.caHash = info.caHash;
  }

  /** A tracker on a free loopback port with a new data directory under `parent`. */
  static async start(parent: string, flags: TrackerFlags = {}): Promise<BenchCluster> {
    const root = await Deno.makeTempDir({ dir: parent, prefix: "cluster-" });
    // Passable by the task user of an agent running as root, for unsandboxed tasks' directories.
    await Deno.chmod(root, 0o711);
    await Deno.mkdir(join(root, "agents"), { mode: 0o711 });
    const dataDir = join(root, "tracker");
    const args = trackerArgs(dataDir, flags);
    const tracker = new Proc(
      "tracker",
      Deno.execPath(),
      args,
      flags.store ? { env: { FABRIC_STORE: flags.store } } : {},
    );
    try {
      const port = (await tracker.waitForLine(/listening on https:\/\/127\.0\.0\.1:(\d+)/))[1];
      const caHash = (await tracker.waitForLine(/--ca-hash (sha256:[0-9a-f]{64})/))[1];
      const read = (name: string) => Deno.readTextFile(join(dataDir, name)).then((text) => text.trim());
      const cluster = new BenchCluster({
        root,
        tracker,
        url: `https://127.0.0.1:${port}`,
        caPem: await Deno.readTextFile(join(dataDir, "ca.pem")),
        caFile: join(dataDir, "ca.pem"),
        adminToken: await read("admin.token"),
        joinToken: await read("join.token"),
        caHash,
      });
      cluster.#store = flags.store;
      cluster.#heartbeat = flags.heartbeat;
      cluster.#denoFlags = flags.denoFlags ?? [];
      return cluster;
    } catch (error) {
      await tracker.stop();
      throw error;
    }
  }

  /**
   * Another tracker on the first one's PostgreSQL store, with a data directory of its own: it follows
   * while the first leads. Its URL and process.
   */
  async startFollower(): Promise<{ url: string; proc: Proc }> {
    if (!this.#store) throw new Error("A second tracker needs a PostgreSQL store");
    const dataDir = join(this.root, `tracker${this.followers.length + 2}`);
    const args = trackerArgs(dataDir, { heartbeat: this.#heartbeat, denoFlags: this.#denoFlags });
    const proc = new Proc(`tracker ${this.followers.length + 2}`, Deno.execPath(), args, {
      env: { FABRIC_STORE: this.#store },
    });
    this.followers.push(proc);
    const port = (await proc.waitForLine(/listening on https:\/\/127\.0\.0\.1:(\d+).*follows\)/))[1];
    return { url: `https://127.0.0.1:${port}`, proc };
  }

  get trackerDir(): string {
    return join(this.root, "tracker");
  }

  /** The tracker's server certificate and key: a baseline server presents the same kind of key. */
  get serverCert(): { cert: string; key: string } {
    return { cert: join(this.trackerDir, "tracker.pem"), key: join(this.trackerDir, "tracker.key") };
  }

  /** The bench's own warm client (created on first use, closed by `stop`). */
  client(): FabricClient {
    this.#client ??= new FabricClient({ url: this.url, token: this.adminToken, caPem: this.caPem, timeoutMs: 120_000 });
    return this.#client;
  }

  get clientEnv(): Record<string, string> {
    return {
      FABRIC_TRACKER: this.url,
      FABRIC_TOKEN: this.adminToken,
      FABRIC_CA: this.caFile,
      FABRIC_DATA_DIR: join(this.root, "no-local-tracker"),
    };
  }

  /** `fabric ARGS` against this tracker as a fresh process, timed. */
  cli(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return fabric(args, { env: this.clientEnv, timeoutMs });
  }

  /** A real agent process; resolves once it has joined. */
  async startAgent(flags: AgentFlags): Promise<Proc> {
    const args = [
      "run",
      "-A",
      "--quiet",
      MAIN,
      "agent",
      "--join",
      this.url.replace("https://", ""),
      "--token-file",
      join(this.trackerDir, "join.token"),
      "--ca-hash",
      this.caHash,
      "--name",
      flags.name,
      "--slots",
      String(flags.slots),
      "--data-dir",
      join(this.root, "agents", flags.name),
      "--stop-grace",
      "1s",
      ...(flags.allowUnsandboxed ? ["--allow-unsandboxed"] : []),
      ...(flags.extraArgs ?? []),
    ];
    // Detached from the bench's terminal, if it has one, as a service manager starts an agent: an
    // agent with a terminal gives each task a session of its own (one more program start per task).
    const setsid = findExecutable("setsid", "/usr/bin:/bin");
    const agent = setsid
      ? new Proc(`agent ${flags.name}`, setsid, [Deno.execPath(), ...args])
      : new Proc(`agent ${flags.name}`, Deno.execPath(), args);
    this.agents.push(agent);
    await agent.waitForLine(new RegExp(`agent ${flags.name} joined`));
    return agent;
  }

  /** Stop the agents, then the tracker, then whatever their tasks left; remove the directory. */
  async stop(): Promise<void> {
    this.#client?.close();
    this.#client = null;
    await Promise.all(this.agents.map((agent) => agent.stop("SIGTERM", 5000)));
    await Promise.all(this.followers.map((follower) => follower.stop("SIGTERM", 5000)));
    await this.tracker.stop("SIGTERM", 5000);
    await killProcessesUnder(this.root);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}
