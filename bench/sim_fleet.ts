/** The bench's side of bench/sim_agents.ts: start the simulator, grow its fleet, read its counters. */
import { Proc } from "./procs.ts";

const SIM = new URL("./sim_agents.ts", import.meta.url).pathname;

export interface FleetOptions {
  url: string;
  caFile: string;
  joinToken: string;
  prefix: string;
  slots: number;
  heartbeatMs?: number;
  /**
   * A client per simulated agent as real agents have (the default), or one shared (sim_agents.ts). With
   * its own, an agent holds two connections (its claim long poll's, its heartbeats'): a simulator of N
   * agents needs 2N descriptors and so does the tracker, 20,000 at 10,000 agents.
   */
  connections?: "agent" | "shared";
}

export interface FleetStats {
  agents: number;
  requests: number;
  errors: number;
  placed: number;
  finished: number;
  openClaims: number;
  heartbeats: number;
  /** Heartbeat round trips since the previous `stats`, in ms (null when there were none). */
  heartbeatP50: number | null;
  heartbeatP99: number | null;
}

export class SimFleet {
  readonly proc: Proc;
  readonly errors: string[] = [];
  #waiting: Array<{ event: string; resolve: (value: Record<string, unknown>) => void }> = [];

  private constructor(options: FleetOptions) {
    const args = [
      "run",
      "-A",
      "--quiet",
      SIM,
      "--url",
      options.url,
      "--ca",
      options.caFile,
      "--token",
      options.joinToken,
      "--prefix",
      options.prefix,
      "--slots",
      String(options.slots),
      "--heartbeat-ms",
      String(options.heartbeatMs ?? 5000),
      "--connections",
      options.connections ?? "agent",
    ];
    this.proc = new Proc(`sim ${options.prefix}`, Deno.execPath(), args, {
      stdin: "piped",
      onLine: (line, stream) => this.#onLine(line, stream),
    });
  }

  static async start(options: FleetOptions): Promise<SimFleet> {
    const fleet = new SimFleet(options);
    await fleet.proc.waitForLine(/"event":"ready"/, 30_000);
    return fleet;
  }

  #onLine(line: string, stream: "stdout" | "stderr"): void {
    if (stream !== "stdout" || !line.startsWith("{")) return;
    const event = JSON.parse(line) as Record<string, unknown>;
    if (event.event === "error") this.errors.push(`${event.where}: ${event.message}`);
    const index = this.#waiting.findIndex((w) => w.event === event.event);
    if (index >= 0) this.#waiting.splice(index, 1)[0].resolve(event);
  }

  #request(command: Record<string, unknown>, answer: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          // What went wrong on its side says why (a registration refused, a tracker that stopped answering).
          const errors = this.errors.length ? `; its first errors: ${this.errors.slice(0, 3).join("; ")}` : "";
          reject(new Error(`the simulator ${this.proc.name} did not answer ${command.cmd} in time${errors}`));
        },
        timeoutMs,
      );
      this.#waiting.push({
        event: answer,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      });
    });
    this.proc.send(JSON.stringify(command));
    return reply;
  }

  /** Register agents until there are `to`, ramping at `rate` a second; resolves when all are in. */
  async grow(to: number, rate: number, concurrency = 16): Promise<{ agents: number; failed: number; ms: number }> {
    const timeoutMs = 60_000 + (to / rate) * 4000;
    const grown = await this.#request({ cmd: "grow", to, rate, concurrency }, "grown", timeoutMs);
    return grown as unknown as { agents: number; failed: number; ms: number };
  }

  async stats(): Promise<FleetStats> {
    return (await this.#request({ cmd: "stats" }, "stats", 60_000)) as unknown as FleetStats;
  }

  async stop(): Promise<void> {
    await this.proc.send(JSON.stringify({ cmd: "stop" })).catch(() => {});
    await this.proc.stop("SIGTERM", 3000);
  }
}
