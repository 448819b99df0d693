/**
 * Several tracker processes on one PostgreSQL database, and agents, for the tests of issue #17 (hot
 * trackers). Each tracker keeps its port across restarts, so that a client or an agent given its
 * address finds it again. Everything runs under one temporary directory that `stop` removes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail, TrackerView } from "../src/protocol/mod.ts";
import type { AgentSpec } from "./cluster.ts";
import { PostgresServer } from "./postgres.ts";
import { Daemon, fabric, killProcessesUnder, waitFor } from "./process.ts";

/** The runs file of a test (HotCluster.runsFile). */
export interface Runs {
  dir: string;
  file: string;
  lines: () => Promise<string[]>;
  /** Let `n` tasks in all past the gate of a gated job. */
  openGate: (n: number) => Promise<void>;
}

export interface HotClusterOptions {
  /** The database's URL (with its password: given to trackers in FABRIC_STORE). */
  store: string;
  trackers: number;
  /** `--lease` (default 3s, to keep tests short). */
  lease?: string;
  heartbeat?: string;
  /**
   * `--agent-ttl` (default 5s: after a takeover an agent may first try a tracker that cannot serve, and
   * then the next, at its retries' pace, before it reaches the new leader).
   */
  agentTtl?: string;
  /** Extra environment for every tracker. */
  env?: Record<string, string>;
  /** The store's URL for tracker `i`, when not `store` (through a proxy the test controls). */
  storeOf?: (i: number) => string;
}

export class TrackerProcess {
  daemon: Daemon | null = null;
  port = 0;
  constructor(readonly index: number, readonly dir: string) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Every line it logged, across its restarts (each run's output is kept). */
  output = "";
}

export class HotCluster {
  readonly trackers: TrackerProcess[] = [];
  readonly agents = new Map<string, Daemon>();
  caHash = "";
  joinToken = "";
  adminToken = "";

  private constructor(readonly root: string, readonly options: HotClusterOptions) {}

  /** The trackers, one after the other: the first leads (it takes the lease on an empty database). */
  static async start(options: HotClusterOptions): Promise<HotCluster> {
    const root = await Deno.makeTempDir({ prefix: "fabric-hot-" });
    await Deno.chmod(root, 0o711);
    await Deno.mkdir(join(root, "agents"), { mode: 0o711 });
    const cluster = new HotCluster(root, options);
    try {
      for (let i = 0; i < options.trackers; i++) {
        cluster.trackers.push(new TrackerProcess(i, join(root, `tracker${i}`)));
        await cluster.startTracker(i);
      }
      const dir = cluster.trackers[0].dir;
      cluster.adminToken = (await Deno.readTextFile(join(dir, "admin.token"))).trim();
      cluster.joinToken = (await Deno.readTextFile(join(dir, "join.token"))).trim();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Start (or restart, on its port) tracker `i`. */
  async startTracker(i: number): Promise<TrackerProcess> {
    const tracker = this.trackers[i];
    const { options } = this;
    const args = ["tracker", "--listen", `127.0.0.1:${tracker.port}`, "--data-dir", tracker.dir];
    args.push("--heartbeat", options.heartbeat ?? "500ms", "--agent-ttl", options.agentTtl ?? "5s", "--grace", "2s");
    args.push("--lease", options.lease ?? "3s");
    const store = options.storeOf?.(i) ?? options.store;
    const daemon = new Daemon(`tracker ${i}`, args, { FABRIC_STORE: store, ...options.env });
    tracker.daemon = daemon;
    const match = await daemon.waitForOutput(/listening on https:\/\/127\.0\.0\.1:(\d+)/, 60_000);
    tracker.port = Number(match[1]);
    const hash = await daemon.waitForOutput(/--ca-hash (sha256:[0-9a-f]{64})|CA hash (sha256:[0-9a-f]{64})/);
    this.caHash = hash[1] ?? hash[2];
    return tracker;
  }

  /** Stop tracker `i` with `signal` (SIGKILL: at once, holding its lease), keeping its output. */
  async stopTracker(i: number, signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const tracker = this.trackers[i];
    const daemon = tracker.daemon;
    if (!daemon) return;
    await daemon.stop(signal, 10_000);
    tracker.output += daemon.stdout + daemon.stderr;
    tracker.daemon = null;
  }

  /** What tracker `i` printed, all runs. */
  output(i: number): string {
    const daemon = this.trackers[i].daemon;
    return this.trackers[i].output + (daemon ? daemon.stdout + daemon.stderr : "");
  }

  /** Resolves with the epoch once tracker `i` says it leads (in its current run). */
  async leads(i: number, timeoutMs = 30_000): Promise<number> {
    const daemon = this.trackers[i].daemon!;
    const match = await daemon.waitForOutput(/this tracker \(\w+\) leads \(epoch (\d+)\)/, timeoutMs);
    return Number(match[1]);
  }

  agentDir(name: string): string {
    return join(this.root, "agents", name);
  }

  /** An agent joining `join` (default: every tracker, as a list). */
  startAgent(spec: AgentSpec & { joinTrackers?: number[] }): Daemon {
    const trackers = spec.join ?? (spec.joinTrackers ?? this.trackers.map((t) => t.index))
      .map((i) => this.trackers[i].address).join(",");
    const tokenFile = join(this.trackers[0].dir, "join.token");
    const args = ["agent", "--join", trackers, "--token-file", tokenFile, "--ca-hash", this.caHash];
    args.push("--name", spec.name, "--slots", String(spec.slots ?? 2), "--data-dir", this.agentDir(spec.name));
    args.push(...(spec.extraArgs ?? []));
    const daemon = new Daemon(`agent ${spec.name}`, args, spec.env);
    this.agents.set(spec.name, daemon);
    return daemon;
  }

  /** The CLI against tracker `i`. */
  cli(i: number, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
    const env = {
      FABRIC_TRACKER: this.trackers[i].url,
      FABRIC_TOKEN: this.adminToken,
      FABRIC_CA: join(this.trackers[0].dir, "ca.pem"),
      FABRIC_DATA_DIR: join(this.root, "no-local-tracker"),
      ...options.env,
    };
    return fabric(args, { env, timeoutMs: options.timeoutMs });
  }

  async json<T>(i: number, args: string[]): Promise<T> {
    const result = await this.cli(i, [...args, "--json"]);
    if (result.code !== 0) {
      throw new Error(`fabric ${args.join(" ")} on tracker ${i} exited ${result.code}: ${result.stderr}`);
    }
    return JSON.parse(result.stdout) as T;
  }

  async writeFile(name: string, text: string): Promise<string> {
    const path = join(this.root, name);
    await Deno.writeTextFile(path, text);
    return path;
  }

  async submit(i: number, yaml: string, name = "job.yaml"): Promise<string> {
    const path = await this.writeFile(name, yaml);
    const result = await this.cli(i, ["submit", path]);
    if (result.code !== 0) throw new Error(`submit on tracker ${i} exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim();
  }

  async waitForJob(i: number, jobId: string, timeoutMs = 60_000): Promise<JobDetail> {
    return await waitFor(`job ${jobId} to end`, async () => {
      const job = await this.json<JobDetail>(i, ["status", jobId]);
      return ["succeeded", "failed", "cancelled"].includes(job.state) ? job : undefined;
    }, { timeoutMs, intervalMs: 200 });
  }

  /**
   * A file tasks append to (outside fabric: a job gives its directory in `permissions.write`), to count
   * each task's runs: `runs.dir` for the job, `runs.file` for the scripts, `runs.lines()` to read it.
   * With it, a gate (see countedJob's `gated`): `runs.openGate(n)` lets n tasks in all end.
   */
  async runsFile(): Promise<Runs> {
    const dir = join(this.root, "runs");
    const file = join(dir, "runs.log");
    await Deno.mkdir(join(dir, "tickets"), { recursive: true });
    await Deno.writeTextFile(file, "");
    // Tasks write there as their own user, not the test's (an agent running as root runs them as another).
    await Deno.chmod(file, 0o666);
    await Deno.chmod(join(dir, "tickets"), 0o777);
    const openGate = async (n: number) => {
      await Deno.writeTextFile(join(dir, "gate.new"), `${n}\n`);
      await Deno.rename(join(dir, "gate.new"), join(dir, "gate"));
    };
    await openGate(0);
    const lines = async () => (await Deno.readTextFile(file)).split("\n").filter((line) => line !== "");
    return { dir, file, lines, openGate };
  }

  describe(): string {
    const parts = this.trackers.map((_, i) => `--- tracker ${i} (all runs) ---\n${this.output(i).slice(-6000)}`);
    for (const agent of this.agents.values()) parts.push(agent.describe());
    return parts.join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.stop("SIGTERM", 5000)));
    await Promise.all(this.trackers.map((t) => t.daemon?.stop("SIGTERM", 5000)));
    await killProcessesUnder(this.root);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/**
 * `body` with a PostgreSQL of its own and a HotCluster on a new database of it; what every process
 * printed is shown if `body` fails, and everything is stopped after it.
 */
export async function withHotCluster(
  options: Omit<HotClusterOptions, "store" | "storeOf"> & {
    /** The store's URL for tracker `i`, given the database's. */
    storeOf?: (i: number, url: string) => string;
  },
  body: (cluster: HotCluster, server: PostgresServer) => Promise<void>,
): Promise<void> {
  const server = await PostgresServer.start();
  let cluster: HotCluster | null = null;
  try {
    const store = await server.createDatabase();
    const storeOf = options.storeOf;
    cluster = await HotCluster.start({ ...options, store, storeOf: storeOf && ((i) => storeOf(i, store)) });
    await body(cluster, server);
  } catch (error) {
    if (cluster) console.error(cluster.describe());
    throw error;
  } finally {
    await cluster?.stop();
    await server.stop();
  }
}

/**
 * A job whose tasks append `start ID ATTEMPT` and `end ID ATTEMPT` to `runsFile` around their output
 * (three lines) and a sleep, so that a test counts how often each task ran and checks its log.
 * `gated`: after its sleep, a task also waits for a ticket (one of the first `runs.openGate(n)`, taken
 * by mkdir, which one task alone wins), so that the job cannot end before the test lets it, however
 * slow the machine (at most 2 minutes: then it ends anyway).
 */
export function countedJob(
  name: string,
  count: number,
  runs: { dir: string; file: string },
  sleep = "0.8",
  options: { gated?: boolean } = {},
): string {
  const mark = (what: string) => `echo "${what} $FABRIC_TASK_ID $FABRIC_ATTEMPT" >> ${runs.file}`;
  const gate = [
    'n=0; got=""',
    'while [ -z "$got" ] && [ $n -lt 1200 ]; do',
    `  g=$(cat ${runs.dir}/gate); t=0`,
    `  while [ $t -lt "$g" ]; do if mkdir ${runs.dir}/tickets/$t 2>/dev/null; then got=$t; break; fi; t=$((t+1)); done`,
    '  [ -n "$got" ] || sleep 0.1; n=$((n+1))',
    "done",
  ];
  return JSON.stringify({
    name,
    permissions: { write: [runs.dir] },
    tasks: [{
      name: "t",
      count,
      run: [
        mark("start"),
        'for i in 1 2 3; do echo "line $i of $FABRIC_TASK_INDEX"; done',
        `sleep ${sleep}`,
        ...(options.gated ? gate : []),
        mark("end"),
      ]
        .join("\n"),
    }],
  });
}

/** Each task's log is its three lines, read through tracker `via`. */
export async function assertLogs(cluster: HotCluster, job: JobDetail, via = 0): Promise<void> {
  for (const task of job.tasks) {
    const log = (await cluster.cli(via, ["logs", task.id])).stdout;
    assert.equal(log, [1, 2, 3].map((i) => `line ${i} of ${task.index}\n`).join(""), `the log of ${task.id}`);
  }
}

/** The index of the tracker listed as leading, asked through tracker `via` (undefined when none leads). */
export async function leaderOf(cluster: HotCluster, via: number): Promise<number | undefined> {
  const listed = await cluster.json<TrackerView[]>(via, ["trackers"]);
  const url = listed.find((tracker) => tracker.role === "leader")?.url;
  const index = cluster.trackers.findIndex((tracker) => tracker.url === url);
  return index < 0 ? undefined : index;
}

/** Each task's runs, from the runs file: started and ended exactly once, as attempt 1. */
export function assertRanOnce(lines: string[], job: JobDetail): void {
  for (const task of job.tasks) {
    const runs = lines.filter((line) => line.split(" ")[1] === task.id);
    assert.deepEqual(runs, [`start ${task.id} 1`, `end ${task.id} 1`], `the runs of ${task.id}`);
  }
}

/** Tracker `i`'s count of answered POST requests on `route` (any status), from its /metrics. */
export async function postsAnswered(cluster: HotCluster, i: number, route: string): Promise<number> {
  const caPem = await Deno.readTextFile(join(cluster.trackers[0].dir, "ca.pem"));
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const response = await fetch(`${cluster.trackers[i].url}/metrics`, {
      headers: { authorization: `Bearer ${cluster.adminToken}` },
      client,
    });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`fabric_http_requests_total{method="POST",route="${route}",`)) {
        sum += Number(line.split(" ").at(-1));
      }
    }
    return sum;
  } finally {
    client.close();
  }
}
