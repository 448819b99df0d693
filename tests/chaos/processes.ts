/**
 * Process control for the chaos run: one tracker and K agents as real `fabric` processes on
 * loopback, each agent joined through its own TCP proxy, all in one temporary directory. Processes
 * are killed with SIGKILL and started again on the same port and data directory; `stop` ends every
 * process the fleet started and anything their tasks left behind.
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
  log: (line: string) => void;
}

interface AgentProcess {
  name: string;
  dir: string;
  proxy: TcpProxy;
  daemon: Daemon | null;
}

export class Fleet {
  readonly root: string;
  readonly options: FleetOptions;
  trackerPort = 0;
  adminToken = "";
  joinToken = "";
  caHash = "";
  caPem = "";
  #tracker: Daemon | null = null;
  #agents = new Map<string, AgentProcess>();
  /** Every process ever started, for their logs. */
  #daemons: Daemon[] = [];

  private constructor(options: FleetOptions) {
    this.root = options.root;
    this.options = options;
  }

  /** A tracker, then every agent through its proxy, all ready. Stops what it started if that fails. */
  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    try {
      await fleet.startTracker();
      for (const name of options.agents) {
        const proxy = startProxy({ targetPort: fleet.trackerPort });
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
    return join(this.root, "tracker");
  }

  get trackerUrl(): string {
    return `https://127.0.0.1:${this.trackerPort}`;
  }

  get agentNames(): string[] {
    return [...this.#agents.keys()];
  }

  /** An API client straight to the tracker (not through a proxy). */
  client(): FabricClient {
    return new FabricClient({ url: this.trackerUrl, token: this.adminToken, caPem: this.caPem, timeoutMs: 10_000 });
  }

  /** `fabric ARGS` as a fresh process against this tracker. */
  cli(args: string[]): Promise<CommandResult> {
    return fabric(args, {
      timeoutMs: 30_000,
      env: {
        FABRIC_TRACKER: this.trackerUrl,
        FABRIC_TOKEN: this.adminToken,
        FABRIC_CA: join(this.trackerDir, "ca.pem"),
        FABRIC_DATA_DIR: join(this.root, "no-local-tracker"),
      },
    });
  }

  /** Start the tracker, or start it again on the same port and data directory. */
  async startTracker(): Promise<void> {
    const args = ["tracker", "--listen", `127.0.0.1:${this.trackerPort}`, "--data-dir", this.trackerDir];
    args.push("--heartbeat", this.options.heartbeat, "--agent-ttl", this.options.agentTtl);
    args.push("--grace", this.options.grace);
    // The port of a killed tracker is free at once; a retry covers a slow release all the same.
    for (let attempt = 1;; attempt++) {
      const daemon = this.#spawn("tracker", args);
      try {
        const match = await daemon.waitForOutput(/listening on https:\/\/127\.0\.0\.1:(\d+)/, 30_000);
        this.#tracker = daemon;
        this.trackerPort = Number(match[1]);
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
      const hash = await this.#tracker!.waitForOutput(/--ca-hash (sha256:[0-9a-f]{64})/);
      this.caHash = hash[1];
    }
  }

  /** kill -9 of the tracker. */
  async killTracker(): Promise<void> {
    const tracker = this.#tracker;
    this.#tracker = null;
    if (!tracker) return;
    tracker.kill("SIGKILL");
    await tracker.exited;
  }

  /** The first start joins with the token through the agent's proxy; later ones only name the data dir. */
  async startAgent(name: string): Promise<void> {
    const agent = this.#agents.get(name)!;
    const args = agent.daemon ? ["agent", "--data-dir", agent.dir, "--slots", String(this.options.slots)] : [
      "agent",
      "--join",
      `127.0.0.1:${agent.proxy.port}`,
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
    this.#agents.get(name)!.proxy.cut(mode);
  }

  heal(name: string): void {
    this.#agents.get(name)!.proxy.heal();
  }

  /** True once the tracker answers and every agent is ready, false after `timeoutMs`. */
  async waitHealthy(timeoutMs: number): Promise<boolean> {
    const client = this.client();
    try {
      await waitFor("every agent to be ready", async () => {
        const agents = await client.listAgents();
        return this.agentNames.every((name) => agents.some((a) => a.name === name && a.state === "ready"));
      }, { timeoutMs, intervalMs: 100 });
      return true;
    } catch {
      return false;
    } finally {
      client.close();
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
    for (const agent of this.#agents.values()) agent.proxy.heal();
    const agents = [...this.#agents.values()].map((a) => a.daemon).filter((d): d is Daemon => d !== null);
    await Promise.all(agents.map((d) => d.stop("SIGTERM", 5000)));
    if (this.#tracker) await this.#tracker.stop("SIGTERM", 5000);
    // Killed processes were awaited when killed; anything else still running goes now.
    await Promise.all(this.#daemons.map((d) => d.stop("SIGKILL", 1000)));
    await Promise.all([...this.#agents.values()].map((a) => a.proxy.close()));
    await killProcessesUnder(this.root);
  }

  #spawn(name: string, args: string[]): Daemon {
    const daemon = new Daemon(name, args);
    this.#daemons.push(daemon);
    this.options.log(`started ${name} (pid ${daemon.pid})`);
    return daemon;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
