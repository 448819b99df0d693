/** `fabric tracker`: run the control plane. */
import { join } from "node:path";
import { MAX_RETENTION_MS } from "../protocol/limits.ts";
import { startTrackerServer } from "../tracker/mod.ts";
import {
  durationFlag,
  hostPortFlag,
  intFlag,
  listFlag,
  type Parsed,
  parseFlags,
  sizeFlag,
  storeFlag,
  stringFlag,
  syncFlag,
  UsageError,
  wantsHelp,
} from "./args.ts";
import { lockDataDir } from "./data_dir_lock.ts";
import { daemonLog, untilSignal } from "./logger.ts";
import { defaultTrackerDir } from "./paths.ts";

const USAGE = `
fabric tracker [--listen HOST:PORT] [--data-dir DIR] [--advertise NAME,...] [--store URL] [--approve-agents]
fabric tracker reset-admin-token [--data-dir DIR] [--store URL]

Run the control plane. The first start in an empty DIR creates a CA, a server certificate, an admin
token (DIR/admin.token, the admin token named "admin") and a join token (DIR/join.token), and prints
the command agents join with. The web dashboard is at https://HOST:PORT/ on the same port (sign in
with a token of any role, fabric token create; the browser must trust DIR/ca.pem).

  --listen HOST:PORT     where to listen (default 0.0.0.0:7443)
  --data-dir DIR         state, certificates and tokens (default ~/.local/share/fabric/tracker); one
                         tracker per directory: a second stops at once (exit code 5)
  --advertise NAMES      names or addresses agents use to reach this tracker (in the certificate)
  --heartbeat DURATION   how often agents heartbeat (default 2s)
  --agent-ttl DURATION   silence after which an agent is down (default 3 heartbeats)
  --grace DURATION       SIGTERM-to-SIGKILL time when a task is stopped (default 5s)
  --sync normal|full     normal (default): what the tracker acknowledged survives its crash or kill -9;
                         full: each commit also waits for the disk, so it survives a power loss (slower)
  --max-connections N    connections held at once; past it a new one replaces the oldest that has sent
                         no request yet, or is closed (default: the open-files limit, ulimit -n, less an
                         eighth of it and at least 64, kept for the store and the listener)
  --store URL            keep jobs, agents, the CA and tokens in PostgreSQL (postgres://USER@HOST/DB;
                         default: SQLite in DIR). Give the password in FABRIC_STORE (the whole URL) or
                         PGPASSWORD, not on the command line; the first tracker on an empty database sets
                         it up. Several trackers may share one database: one leads (places work), the
                         others follow. See docs/postgres.md
  --lease DURATION       with --store: how long the leader's lease lasts without a renewal (default 10s);
                         when the leader dies, another tracker takes over about this long after
  --approve-agents       a new agent joining with the join token is pending: it takes no work until
                         fabric agents approve NAME (one joining with an admin token is approved)
  --retention DURATION   delete ended jobs, with their tasks and logs, this long after they ended
                         (default 7d, at most 365d; 0 keeps everything); a job's own "retention:" keeps
                         it longer. A pass runs every minute, a little at a time; fabric gc runs one now
  --audit-retention DURATION
                         delete audit entries (fabric audit) this long after they were recorded
                         (default 90d, at most 365d; 0 keeps them all), in the same passes
  --max-job-logs SIZE    output one job may store (default 1G; 0: no cap); past it a task's output is
                         dropped, the task goes on, and its log says where the output stops
  --announce, --no-announce
                         announce this tracker by UDP broadcast on port 7444 of each local network, so
                         that an agent with a join token and no --join finds it (default: on when
                         listening beyond loopback)
  --channel-history N    changes of channels kept for watches: the last N revisions (default 10000); a
                         watch from further back is told "compacted" and reads the channel again
  --metrics-listen ADDR  also serve /metrics, /healthz and /readyz over plain HTTP without a token at
                         HOST:PORT: for loopback or a private network only (on the API's port, /metrics
                         needs a client token of any role; /healthz and /readyz need none)

reset-admin-token: for someone who can write DIR, while the tracker runs or not: a new admin token
named "admin", printed alone on stdout and written to DIR/admin.token (0600). The old one is refused
from then on (a running tracker finds the change in its store within a second).

Requests are admitted on their token before their body is read; bodies are limited per route (32 MB
for a submit and an agent's report, hello and claim, 16 KB for a dashboard form, 1 MB for others); a
connection must finish its TLS handshake and its headers within 10s and its whole request within 60s;
an idle keep-alive connection is closed after 60s.
`;

export const TRACKER_FLAGS = {
  listen: { type: "string" },
  "data-dir": { type: "string" },
  advertise: { type: "string" },
  heartbeat: { type: "string" },
  "agent-ttl": { type: "string" },
  grace: { type: "string" },
  sync: { type: "string" },
  "max-connections": { type: "string" },
  store: { type: "string" },
  "approve-agents": { type: "boolean" },
  retention: { type: "string" },
  "audit-retention": { type: "string" },
  "max-job-logs": { type: "string" },
  "channel-history": { type: "string" },
  "metrics-listen": { type: "string" },
  lease: { type: "string" },
  announce: { type: "boolean" },
  "no-announce": { type: "boolean" },
} as const;

export async function trackerCommand(args: string[]): Promise<number> {
  if (args[0] === "reset-admin-token") {
    return await (await import("./reset_admin_token.ts")).resetAdminTokenCommand(args.slice(1));
  }
  const parsed = parseFlags("tracker", args, TRACKER_FLAGS);
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`fabric tracker takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const listen = hostPortFlag(stringFlag(parsed, "listen") ?? "0.0.0.0:7443", "--listen");
  const metricsListen = stringFlag(parsed, "metrics-listen");
  const operating = {
    retentionMs: durationFlag(stringFlag(parsed, "retention"), "--retention", MAX_RETENTION_MS),
    auditRetentionMs: durationFlag(stringFlag(parsed, "audit-retention"), "--audit-retention", MAX_RETENTION_MS),
    maxJobLogs: sizeFlag(stringFlag(parsed, "max-job-logs"), "--max-job-logs"),
    channelHistory: intFlag(parsed, "channel-history", 1, 10_000_000),
    metricsListen: metricsListen === undefined ? undefined : hostPortFlag(metricsListen, "--metrics-listen"),
  };
  const dataDir = stringFlag(parsed, "data-dir") ?? defaultTrackerDir();
  const log = daemonLog("tracker");
  // Every flag is read before the lock is taken: a mistake in one creates nothing.
  const options = {
    dataDir,
    hostname: listen.hostname,
    port: listen.port,
    advertise: listFlag(parsed, "advertise"),
    heartbeatMs: durationFlag(stringFlag(parsed, "heartbeat"), "--heartbeat"),
    ttlMs: durationFlag(stringFlag(parsed, "agent-ttl"), "--agent-ttl"),
    graceMs: durationFlag(stringFlag(parsed, "grace"), "--grace"),
    sync: syncFlag(parsed),
    maxConnections: intFlag(parsed, "max-connections", 1, 10_000_000),
    store: storeFlag(parsed),
    approveAgents: parsed.values["approve-agents"] === true,
    ...operating,
    leaseMs: durationFlag(stringFlag(parsed, "lease"), "--lease"),
    announce: announceFlag(parsed, listen.hostname),
    log,
  };
  if (options.leaseMs !== undefined && options.leaseMs < 1000) {
    throw new UsageError(
      `--lease must be at least 1s (the leader renews it every third of it), got ${options.leaseMs}ms`,
    );
  }
  // Listened for before anything is announced: a SIGTERM that comes as soon as the address is
  // printed (a supervisor, a test) must close the store, not kill the process with 143.
  const stopping = untilSignal();
  const lock = await lockDataDir(dataDir, "tracker");
  const server = await startTrackerServer(options);
  // On a shared store, whether it leads now (places work) or follows (tracker.ts's lease, docs/postgres.md).
  const role = server.storeWhere
    ? (server.tracker ? `; tracker ${server.id}, leads` : `; tracker ${server.id}, follows`)
    : "";
  const where = server.storeWhere ? `, store ${server.storeWhere}` : "";
  console.log(`fabric tracker listening on ${server.url} (data in ${dataDir}${where}${role})`);
  console.log(`The dashboard is at https://${server.joinAddress}/ (sign in with a client token).`);
  if (server.metricsUrl) console.log(`metrics at ${server.metricsUrl}/metrics (plain HTTP, no token)`);
  // Agents join any of the trackers sharing the store: the command lists them all.
  const addresses = (await server.joinAddresses()).join(",");
  if (server.newTokens) {
    // Not the join token itself: a command line is seen by every user of a machine (ps), and this
    // output goes to terminals' scrollback and logs.
    console.log("Agents join with:");
    console.log(`  fabric agent --join ${addresses} --token-file join.token --ca-hash ${server.caHash}`);
    console.log(`once ${join(dataDir, "join.token")} is copied to their machine (mode 0600); or with the token in`);
    console.log("FABRIC_JOIN_TOKEN instead of --token-file. The token names the CA, so --ca-hash may be left out.");
    if (options.announce) {
      console.log(
        "On this tracker's networks, agents find it by its announcements: fabric agent --token-file join.token",
      );
    }
    console.log(`The admin token for clients is in ${join(dataDir, "admin.token")}.`);
  } else {
    console.log(`CA hash ${server.caHash}; the join token is in ${join(dataDir, "join.token")}.`);
    if (addresses.includes(",")) console.log(`Agents join with --join ${addresses} (the trackers sharing this store).`);
  }
  const signal = await stopping;
  log(`${signal}: finishing requests and closing the store`);
  await server.close();
  lock.release();
  return 0;
}

/** `--announce` / `--no-announce`; by default, on unless the tracker listens on loopback only. */
function announceFlag(parsed: Parsed, hostname: string): boolean {
  if (parsed.values.announce && parsed.values["no-announce"]) {
    throw new UsageError("--announce and --no-announce do not go together");
  }
  if (parsed.values.announce) return true;
  if (parsed.values["no-announce"]) return false;
  return !/^(127\.|localhost$|::1$|\[::1\]$)/.test(hostname);
}
