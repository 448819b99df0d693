/**
 * Process control for the chaos run: one tracker and K agents as real `fabric` processes on
 * loopback, each agent joined through its own TCP proxy, all in one temporary directory. Processes
 * are killed with SIGKILL and started again on the same port and data directory; `stop` ends every
 * process the fleet started and anything their tasks left behind.
 *
 * With several trackers (on one PostgreSQL database, `store`), agents join every tracker's address
 * directly: they learn the trackers' own addresses from the one they reach and move to them when
 * theirs stops answering, so a proxy in front of one address could not cut an agent off; that mode
 * has no cuts.
 */
import { join } from "node:path";
import { FabricClient } from "../../src/client/mod.ts";
import { type CommandResult, Daemon, fabric, killProcessesUnder, waitFor } from "../../testing/process.ts";
import { type CutMode, startProxy, type TcpProxy } from "./proxy.ts";

export interface FleetOptions {
  root: string;
  agents: string[];
  slots: number;
  heartbeat: string;
  agentTtl: string;
  grace: string;
  /** Several trackers: their number, the PostgreSQL database they share (its URL, password included), their lease. */
  several?: {
    trackers: number;
    store: string;
    lease: string;
    /** Stop PostgreSQL (a fast shutdown: every connection closed), and start it again. */
    pauseStore: () => Promise<void>;
    resumeStore: () => Promise<void>;
  };
  log: (line: string) => void;
}

interface TrackerSlot {
  dir: string;
  port: number;
  daemon: Daemon | null;
}

interface AgentProcess {
  name: string;
  dir: string;
  /** Null with several trackers (see the file's comment). */
  proxy: TcpProxy | null;
  daemon: Daemon | null;
}

export class Fleet {
  readonly root: string;
  readonly options: FleetOptions;
  adminToken = "";
  joinToken = "";
  caHash = "";
  caPem = "";
  #trackers: TrackerSlot[];
  #agents = new Map<string, AgentProcess>();
  /** Every process ever started, for their logs. */
  #daemons: Daemon[] = [];

  private constructor(options: FleetOptions) {
    this.root = options.root;
    this.options = options;
    const count = options.several?.trackers ?? 1;
    this.#trackers = Array.from({ length: count }, (_, i) => ({
      dir: join(options.root, i === 0 ? "tracker" : `tracker-${i + 1}`),
      port: 0,
      daemon: null,
    }));
  }

  /** A tracker, then every agent through its proxy, all ready. Stops what it started if that fails. */
  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    try {
      // One after the other: the first sets the database up (CA, tokens) and leads.
      for (let i = 0; i < fleet.#trackers.length; i++) await fleet.startTracker(i);
      for (const name of options.agents) {
        const proxy = options.several ? null : startProxy({ targetPort: fleet.#trackers[0].port });
        fleet.#agents.set(name, { name, dir: join(options.root, "agents", name), proxy, daemon: null });
      }
      await Promise.all(options.agents.map((name) => fleet.startAgent(name)));
      if (!(await fleet.waitHealthy(30_000))) throw new Error("the agents did not all become ready");
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  get trackerDir(): string {
    return this.#trackers[0].dir;
  }

  /** Every tracker's URL (the first tracker's first). */
  get trackerUrls(): string[] {
    return this.#trackers.map((t) => `https://127.0.0.1:${t.port}`);
  }

  get trackerCount(): number {
    return this.#trackers.length;
  }

  get agentNames(): string[] {
    return [...this.#agents.keys()];
  }

  /** An API client straight to the trackers (not through a proxy), moving on from one that does not answer. */
  client(): FabricClient {
    return new FabricClient({ url: this.trackerUrls, token: this.adminToken, caPem: this.caPem, timeoutMs: 10_000 });
  }

  /** `fabric ARGS` as a fresh process against this tracker. */
  cli(args: string[]): Promise<CommandResult> {
    return fabric(args, {
      timeoutMs: 30_000,
      env: {
        FABRIC_TRACKER: this.trackerUrls.join(","),
        FABRIC_TOKEN: this.adminToken,
        FABRIC_CA: join(this.trackerDir, "ca.pem"),
        FABRIC_DATA_DIR: join(this.root, "no-local-tracker"),
      },
    });
  }

  /** Start tracker `i`, or start it again on the same port and data directory. */
  async startTracker(i = 0): Promise<void> {
    const slot = this.#trackers[i];
    const args = ["tracker", "--listen", `127.0.0.1:${slot.port}`, "--data-dir", slot.dir];
    args.push("--heartbeat", this.options.heartbeat, "--agent-ttl", this.options.agentTtl);
    args.push("--grace", this.options.grace);
    const several = this.options.several;
    if (several) args.push("--lease", several.lease);
    // The store's URL holds its password: in the environment, never on a command line.
    const env = several ? { FABRIC_STORE: several.store } : undefined;
    const name = this.#trackers.length > 1 ? `tracker-${i + 1}` : "tracker";
    // The port of a killed tracker is free at once; a retry covers a slow release all the same.
    for (let attempt = 1;; attempt++) {
      const daemon = this.#spawn(name, args, env);
      try {
        const match = await daemon.waitForOutput(/listening on https:\/\/127\.0\.0\.1:(\d+)/, 30_000);
        slot.daemon = daemon;
        slot.port = Number(match[1]);
        break;
      } catch (error) {
        daemon.kill("SIGKILL");
        if (attempt >= 5) throw error;
        await sleep(300);
      }
    }
    if (!this.adminToken) {
      this.adminToken = (await Deno.readTextFile(join(this.trackerDir, "admin.token"))).trim();
      this.joinToken = (await Deno.readTextFile(join(this.trackerDir, "join.token"))).trim();
      this.caPem = await Deno.readTextFile(join(this.trackerDir, "ca.pem"));
      const hash = await slot.daemon!.waitForOutput(/--ca-hash (sha256:[0-9a-f]{64})/);
      this.caHash = hash[1];
    }
  }

  /** kill -9 of tracker `i`. */
  async killTracker(i = 0): Promise<void> {
    const slot = this.#trackers[i];
    const tracker = slot.daemon;
    slot.daemon = null;
    if (!tracker) return;
    tracker.kill("SIGKILL");
    await tracker.exited;
  }

  async pauseStore(): Promise<void> {
    await this.options.several!.pauseStore();
  }

  async resumeStore(): Promise<void> {
    await this.options.several!.resumeStore();
  }

  /** The index of the tracker that leads now (asked of any), or null if none is known to. */
  async leaderIndex(): Promise<number | null> {
    const client = this.client();
    try {
      const { trackers } = await client.listTrackers();
      const leader = trackers.find((t) => t.role === "leader");
      const index = leader ? this.#trackers.findIndex((t) => leader.url.endsWith(`:${t.port}`)) : -1;
      return index >= 0 ? index : null;
    } catch {
      return null;
    } finally {
      client.close();
    }
  }

  /** The first start joins with the token through the agent's proxy; later ones only name the data dir. */
  async startAgent(name: string): Promise<void> {
    const agent = this.#agents.get(name)!;
    const joinAt = agent.proxy
      ? `127.0.0.1:${agent.proxy.port}`
      : this.#trackers.map((t) => `127.0.0.1:${t.port}`).join(",");
    const args = agent.daemon ? ["agent", "--data-dir", agent.dir, "--slots", String(this.options.slots)] : [
      "agent",
      "--join",
      joinAt,
      "--token-file",
      join(this.trackerDir, "join.token"),
      "--ca-hash",
      this.caHash,
      "--name",
      name,
      "--slots",
      String(this.options.slots),
      "--data-dir",
      agent.dir,
    ];
    const daemon = this.#spawn(`agent ${name}`, args);
    agent.daemon = daemon;
    await daemon.waitForOutput(/joined/, 30_000);
  }

  /** kill -9 of an agent (its sandboxed tasks die with it: bubblewrap's --die-with-parent). */
  async killAgent(name: string): Promise<void> {
    const agent = this.#agents.get(name)!;
    const daemon = agent.daemon;
    if (!daemon) return;
    daemon.kill("SIGKILL");
    await daemon.exited;
  }

  cut(name: string, mode: CutMode): void {
    const proxy = this.#agents.get(name)!.proxy;
    if (!proxy) throw new Error("agents cannot be cut off with several trackers (see processes.ts)");
    proxy.cut(mode);
  }

  heal(name: string): void {
    this.#agents.get(name)!.proxy?.heal();
  }

  /**
   * True once the tracker answers and every agent is ready, false after `timeoutMs`. With several
   * trackers: every tracker is running, one of them leads, and the leader itself (whose view is the
   * one that places work) sees every agent ready.
   */
  async waitHealthy(timeoutMs: number): Promise<boolean> {
    try {
      await waitFor("every agent to be ready", async () => {
        let url = this.trackerUrls[0];
        if (this.#trackers.length > 1) {
          if (this.#trackers.some((t) => t.daemon === null)) return false;
          const leader = await this.leaderIndex();
          if (leader === null) return false;
          url = this.trackerUrls[leader];
        }
        const client = new FabricClient({ url, token: this.adminToken, caPem: this.caPem, timeoutMs: 5_000 });
        try {
          const agents = await client.listAgents();
          return this.agentNames.every((name) => agents.some((a) => a.name === name && a.state === "ready"));
        } catch {
          return false;
        } finally {
          client.close();
        }
      }, { timeoutMs, intervalMs: 100 });
      return true;
    } catch {
      return false;
    }
  }

  /** Every process's output, one file each, for a post-mortem. */
  async saveLogs(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    let n = 0;
    for (const daemon of this.#daemons) {
      const file = join(dir, `${String(++n).padStart(2, "0")}-${daemon.name.replace(/\s+/g, "-")}.log`);
      await Deno.writeTextFile(file, `--- stdout ---\n${daemon.stdout}\n--- stderr ---\n${daemon.stderr}`);
    }
  }

  /** Stop the agents and the tracker, close the proxies, and kill whatever is left under the root. */
  async stop(): Promise<void> {
    for (const agent of this.#agents.values()) agent.proxy?.heal();
    const agents = [...this.#agents.values()].map((a) => a.daemon).filter((d): d is Daemon => d !== null);
    await Promise.all(agents.map((d) => d.stop("SIGTERM", 5000)));
    await Promise.all(this.#trackers.map((t) => t.daemon?.stop("SIGTERM", 5000)));
    // Killed processes were awaited when killed; anything else still running goes now.
    await Promise.all(this.#daemons.map((d) => d.stop("SIGKILL", 1000)));
    await Promise.all([...this.#agents.values()].map((a) => a.proxy?.close()));
    await killProcessesUnder(this.root);
  }

  #spawn(name: string, args: string[], env?: Record<string, string>): Daemon {
    const daemon = new Daemon(name, args, env);
    this.#daemons.push(daemon);
    this.options.log(`started ${name} (pid ${daemon.pid})`);
    return daemon;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
