/**
 * Where a heartbeat's CPU goes at the trackers (not part of `deno task bench`): B3's two trackers on one
 * PostgreSQL (a server of its own), each under `deno run --cpu-prof`, a simulated fleet split half and
 * half (bench/sim_agents.ts), then one steady window: each tracker's CPU per heartbeat, the TCP
 * connections accepted per heartbeat (each one a TLS handshake), and each profile's samples within the
 * window by category (bench/cpu_profile_summary.ts).
 *
 * Connections are counted from the network namespace's own counter (TcpPassiveOpens in /proc/net/snmp):
 * run it in a namespace of its own so that nothing else on the machine is counted:
 *
 *     unshare -n sh -c 'ip link set lo up && deno run -A bench/heartbeat_profile.ts --agents 4000'
 *       [--window-s 20] [--settle-s 10] [--connections shared|agent] [--keep DIR] [--no-profile]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PostgresServer } from "../testing/postgres.ts";
import { BenchCluster } from "./cluster.ts";
import { type CpuProfile, formatSummary, summarize } from "./cpu_profile_summary.ts";
import { cpuSeconds, memory, openFiles } from "./proc_stats.ts";
import { SimFleet } from "./sim_fleet.ts";
import { sleep } from "./workload.ts";

/** The kernel's CLOCK_MONOTONIC in µs, the clock of V8's profile timestamps. */
async function monotonicUs(): Promise<number> {
  using file = await Deno.open("/proc/timer_list");
  const buffer = new Uint8Array(256);
  const n = (await file.read(buffer)) ?? 0;
  const ns = new TextDecoder().decode(buffer.subarray(0, n)).match(/now at (\d+) nsecs/)?.[1];
  if (!ns) throw new Error("no clock in /proc/timer_list");
  return Number(BigInt(ns) / 1000n);
}

/** Connections accepted in this network namespace so far. */
function passiveOpens(): number {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) => l.startsWith("Tcp:"));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values[names.indexOf("PassiveOpens")]);
}

/** The user and system CPU seconds of each thread of `pid`, by thread name. */
function threadCpu(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
      byName.set(name, (byName.get(name) ?? 0) + seconds);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return byName;
}

/** CPU seconds of the PostgreSQL server: its postmaster and every backend (the postmaster's children). */
function postgresCpu(root: string): number {
  const postmaster = Number(Deno.readTextFileSync(join(root, "data", "postmaster.pid")).split("\n")[0]);
  let total = cpuSeconds(postmaster);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster) {
        total += cpuSeconds(Number(entry.name));
      }
    } catch {
      // A process that ended meanwhile.
    }
  }
  return total;
}

/** CPU seconds of every process now (pid -> [name, seconds]), to name who else used the machine in a window. */
function allProcesses(): Map<number, [string, number]> {
  const all = new Map<number, [string, number]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      all.set(Number(entry.name), [name, cpuSeconds(Number(entry.name))]);
    } catch {
      // Ended meanwhile.
    }
  }
  return all;
}

/** The machine's CPU seconds so far by kind (user, system, softirq...), from /proc/stat. */
function machineKinds(): number[] {
  return Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map((v) => Number(v) / 100);
}

/** The machine's busy CPU seconds so far (all CPUs: user, system, interrupts; not idle nor I/O wait), from /proc/stat. */
function machineBusy(): number {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Seconds the process's main thread has waited, runnable, for a CPU (/proc/PID/schedstat, second field). */
function runDelay(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/schedstat`).split(" ")[1]) / 1e9;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    agents: { type: "string", default: "4000" },
    "window-s": { type: "string", default: "20" },
    "settle-s": { type: "string", default: "10" },
    connections: { type: "string", default: "agent" },
    keep: { type: "string" },
    /** Without --cpu-prof: the trackers' CPU as they run (the profiler's own thread costs 0.04-0.07 core each). */
    "no-profile": { type: "boolean", default: false },
  },
});
const agents = Number(values.agents);
if (values.connections !== "agent" && values.connections !== "shared") {
  throw new Error(`--connections must be "agent" or "shared", got "${values.connections}"`);
}
const connections: "agent" | "shared" = values.connections;
const windowMs = Number(values["window-s"]) * 1000;
const root = await Deno.makeTempDir({ prefix: "fabric-hbprof-" });
await Deno.chmod(root, 0o711);
const profDir = join(root, "prof");
await Deno.mkdir(profDir);
const postgres = await PostgresServer.start({ parent: root, settings: { fsync: "on", shared_buffers: "128MB" } });
let cluster: BenchCluster | undefined;
const fleets: SimFleet[] = [];
try {
  const store = await postgres.createDatabase();
  const denoFlags = values["no-profile"] ? [] : ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
  cluster = await BenchCluster.start(root, { heartbeat: "5s", store, denoFlags });
  const follower = await cluster.startFollower();
  const common = { caFile: cluster.caFile, joinToken: cluster.joinToken, slots: 2, connections };
  fleets.push(await SimFleet.start({ ...common, url: cluster.url, prefix: "lead" }));
  fleets.push(await SimFleet.start({ ...common, url: follower.url, prefix: "follow" }));
  const grown = await Promise.all(fleets.map((fleet) => fleet.grow(agents / 2, 250, 64)));
  console.log(
    `grown: ${grown.map((g) => `${g.agents} (${g.failed} failed, ${(g.ms / 1000).toFixed(1)} s)`).join(", ")}`,
  );
  await sleep(Number(values["settle-s"]) * 1000);
  const pids = [cluster.tracker.pid, follower.proc.pid];
  const sims = fleets.map((fleet) => fleet.proc.pid);
  const database = new URL(store).pathname.slice(1);
  const commits = () =>
    postgres.admin(
      database,
      async (sql) =>
        Number((await sql`SELECT xact_commit FROM pg_stat_database WHERE datname = ${database}`)[0].xact_commit),
    );
  const snapshot = async () => ({
    commits: await commits(),
    machine: machineBusy(),
    kinds: machineKinds(),
    processes: allProcesses(),
    waited: [...pids, ...sims].map(runDelay),
    postgres: postgresCpu(postgres.root),
    stats: await Promise.all(fleets.map((fleet) => fleet.stats())),
    cpu: pids.map(cpuSeconds),
    threads: pids.map(threadCpu),
    sims: sims.map(cpuSeconds),
    opens: passiveOpens(),
    at: performance.now(),
    us: await monotonicUs(),
  });
  const before = await snapshot();
  await sleep(windowMs);
  const after = await snapshot();
  const seconds = (after.at - before.at) / 1000;
  const heartbeats = after.stats.map((s, j) => s.heartbeats - before.stats[j].heartbeats);
  const requests = after.stats.map((s, j) => s.requests - before.stats[j].requests);
  const opens = after.opens - before.opens;
  const allRequests = requests[0] + requests[1];
  console.log(
    `window ${seconds.toFixed(1)} s, load ${Deno.loadavg()[0].toFixed(2)}: heartbeats ${
      heartbeats.map((h) => (h / seconds).toFixed(0)).join(" + ")
    }/s of ${(agents / 5).toFixed(0)}, requests ${allRequests} (${(allRequests / seconds).toFixed(0)}/s), ` +
      `connections accepted ${opens} (${(opens / seconds).toFixed(1)}/s, ${
        (opens / allRequests).toFixed(3)
      } per request)`,
  );
  console.log(
    `heartbeat p50 ${after.stats.map((s) => s.heartbeatP50?.toFixed(1)).join(" / ")} ms, p99 ${
      after.stats.map((s) => s.heartbeatP99?.toFixed(1)).join(" / ")
    } ms (leader's half / follower's half), sim errors ${after.stats.map((s) => s.errors).join(" / ")}`,
  );
  const waited = after.waited.map((w, j) => ((w - before.waited[j]) / seconds).toFixed(2)).join(" / ");
  console.log(
    `the machine: ${((after.machine - before.machine) / seconds).toFixed(2)} cores busy in all; main threads ` +
      `runnable but waiting for a CPU ${waited} of each second (leader / follower / simulators)`,
  );
  // The leader's own account of its routes (sum and count of each one's durations since it started).
  const metrics = await (await fetch(`${cluster.url}/metrics`, {
    client: Deno.createHttpClient({ caCerts: [cluster.caPem] }),
    headers: { authorization: `Bearer ${cluster.adminToken}` },
  })).text();
  const durations = metrics.split("\n").filter((line) =>
    /^fabric_http_request_duration_seconds_(sum|count)\{.*(heartbeat|claim)/.test(line)
  );
  console.log(`the leader's routes since it started:\n  ${durations.join("\n  ")}`);
  const kinds = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
  console.log(
    `  by kind: ${kinds.map((k, i) => `${k} ${((after.kinds[i] - before.kinds[i]) / seconds).toFixed(2)}`).join(", ")}`,
  );
  const used = [...after.processes].map(([pid, [name, cpu]]) =>
    [pid, name, cpu - (before.processes.get(pid)?.[1] ?? 0)] as const
  )
    .filter(([, , cpu]) => cpu / seconds >= 0.01).sort((a, b) => b[2] - a[2]).slice(0, 12);
  console.log(
    `  processes: ${used.map(([pid, name, cpu]) => `${name}[${pid}] ${(cpu / seconds).toFixed(2)}`).join(", ")}`,
  );
  const errors = fleets.flatMap((fleet) => fleet.errors.slice(0, 2));
  if (errors.length) console.log(`first errors: ${errors.join("; ")}`);
  ["leader", "follower"].forEach((name, j) => {
    const cores = (after.cpu[j] - before.cpu[j]) / seconds;
    const perRequest = ((after.cpu[j] - before.cpu[j]) / requests[j]) * 1e6;
    const threads = [...after.threads[j]].map(([t, s]) => [t, (s - (before.threads[j].get(t) ?? 0)) / seconds] as const)
      .filter(([, c]) => c > 0.002).sort((a, b) => b[1] - a[1]).map(([t, c]) => `${t} ${c.toFixed(3)}`).join(", ");
    console.log(
      `${name}: ${cores.toFixed(3)} cores, ${
        perRequest.toFixed(0)
      } µs CPU per request of its half (threads: ${threads})`,
    );
  });
  console.log(
    `PostgreSQL: ${((after.commits - before.commits) / seconds).toFixed(0)} commits/s in fabric's database, ${
      ((after.postgres - before.postgres) / seconds).toFixed(3)
    } cores`,
  );
  const mb = (pid: number) => (memory(pid).rss / 1e6).toFixed(0);
  console.log(
    `simulators: ${sims.map((_, j) => ((after.sims[j] - before.sims[j]) / seconds).toFixed(3)).join(" + ")} cores, ` +
      `RSS ${sims.map(mb).join(" / ")} MB, ${sims.map(openFiles).join(" / ")} descriptors; trackers' RSS ${
        pids.map(mb).join(" / ")
      } MB, ${pids.map(openFiles).join(" / ")} descriptors`,
  );
  await Promise.all(fleets.splice(0).map((fleet) => fleet.stop()));
  await cluster.stop();
  cluster = undefined;
  // Each tracker's profile, written as it exited: the one of the leader's pid first.
  for (const [name, pid] of [["leader", pids[0]], ["follower", pids[1]]] as const) {
    const file = [...Deno.readDirSync(profDir)].find((e) => e.name.includes(`.${pid}.`));
    if (!file) {
      if (!values["no-profile"]) console.log(`${name}: no profile written`);
      continue;
    }
    const profile = JSON.parse(await Deno.readTextFile(join(profDir, file.name))) as CpuProfile;
    console.log(formatSummary(`${name} profile in the window`, summarize(profile, before.us, after.us)));
    if (values.keep) await Deno.copyFile(join(profDir, file.name), join(values.keep, `${name}.cpuprofile`));
  }
} finally {
  await Promise.all(fleets.map((fleet) => fleet.stop()));
  await cluster?.stop();
  await postgres.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
