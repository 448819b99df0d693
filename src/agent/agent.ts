/**
 * The worker daemon's start: pin the tracker's CA, probe what this machine can do, recover what a
 * previous run left (undelivered reports, processes still running), join, and hand over to the loop.
 */
import { join as joinPath } from "node:path";
import { FabricClient } from "../client/mod.ts";
import { DEFAULT_PACK_CACHE_BYTES, PackCache } from "./pack_cache.ts";
import {
  closeInheritedOnExec,
  detectCgroup,
  ExecRuntime,
  openWorkRoot,
  probeCapabilities,
  resolveTaskUser,
  unreachablePathEntries,
} from "../exec/mod.ts";
import {
  type AgentResources,
  type Capabilities,
  type Clock,
  FABRIC_VERSION,
  FabricError,
  keyName,
  type Labels,
  systemClock,
} from "../protocol/mod.ts";
import { joinTokenCaHash } from "../protocol/announce.ts";
import { advertised, loadAddons } from "./addon_loader.ts";
import { loadIdentity, trackersOf } from "./credential.ts";
import { discoverTrackers } from "./discovery.ts";
import { DEFAULT_STOP_GRACE_MS } from "./defaults.ts";
import { JobVerifier } from "./job_verifier.ts";
import { hostPort, join, resolveCa } from "./join.ts";
import { Journal } from "./journal.ts";
import { clearOwnDrain, hadOwnDrain } from "./own_drain.ts";
import { type AgentHandle, AgentLoop } from "./loop.ts";
import type { Runtime } from "./loop_options.ts";
import { describeCapabilities, machineResources } from "./machine.ts";
import { missingToolLines } from "./missing_tools.ts";
import { attemptsOf, lostAttempts } from "./recovery.ts";
import { Reporter } from "./reporter.ts";
import { RunRegistry } from "./run_registry.ts";
import { TrackerList } from "./tracker_list.ts";
import { removeTree } from "./work_dirs.ts";

export { DEFAULT_STOP_GRACE_MS };

export type { AgentHandle } from "./loop.ts";

export interface AgentOptions {
  dataDir: string;
  /**
   * `host:port` of the tracker, or of several sharing a store, comma-separated; remembered after the
   * first join, with those learnt from them (tracker_list.ts).
   */
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
  /** On stop, how long running tasks may go on before they are handed back (default 30s). */
  stopGraceMs?: number;
  /** Let tasks that set `sandbox: false` run without bubblewrap. */
  allowUnsandboxed?: boolean;
  /** Let git tasks check out repositories on this machine (a path, `file://`); off by default. */
  allowLocalGit?: boolean;
  /** The user an agent running as root runs tasks as (default `fabric-task`, created if missing). */
  taskUser?: string;
  /** Placement weight (utilisation x weight); kept by the tracker when omitted. */
  weight?: number;
  /** Capacity offered to tasks; by default the machine's CPUs, memory and the data directory's free disk. */
  resources?: Partial<AgentResources>;
  /** Undelivered reports kept on disk while the tracker is away; past it task output is dropped (default 256M). */
  maxJournalBytes?: number;
  /** "full": results are on disk before they are sent (survive a power loss); "normal" (default): an agent crash. */
  sync?: "normal" | "full";
  log?: (message: string) => void;
  /** Give up waiting for an unreachable tracker at start. */
  signal?: AbortSignal;
  /** The time the agent's loops go by (the system's by default). */
  clock?: Clock;
  /** For the jitter of its retries (Math.random by default). */
  random?: () => number;
  /**
   * `--verify-key`: public keys (raw, base64); the agent runs only tasks of jobs signed by one of them,
   * each checked against its signed job. Unset: it runs unsigned jobs too.
   */
  verifyKeys?: string[];
  /** The folder of add-ons (custom task kinds) to load; default `addons/` in the data directory. */
  addonsDir?: string;
}

export const DEFAULT_JOURNAL_BYTES = 256 * 1024 * 1024;

export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  const log = options.log ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  // Before anything is started: what this process inherited stays with it (exec/inherited_fds.ts).
  const kept = closeInheritedOnExec();
  if (kept) log(`warning: tasks may inherit descriptors this agent was started with: ${kept}`);
  const clock = options.clock ?? systemClock;
  const { random } = options;
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const taskUser = await resolveTaskUser(options.taskUser);
  const saved = await loadIdentity(options.dataDir);
  const given = options.join === undefined ? [] : joinList(options.join);
  let trackers = given.length > 0 ? given : saved ? trackersOf(saved) : [];
  // Only a join token, naming its CA: the trackers announce themselves on the local network.
  const tokenCa = options.token === undefined ? null : joinTokenCaHash(options.token);
  if (trackers.length === 0 && tokenCa && options.caHash?.toLowerCase() === tokenCa) {
    trackers = await discoverTrackers({ caHash: tokenCa, log, signal });
  }
  if (trackers.length === 0) {
    throw new FabricError(
      "bad_request",
      "This agent has not joined a tracker yet: give --join HOST:PORT and the join token (--token-file FILE)",
    );
  }
  const caPem = await resolveCa({ ...options, saved, trackers }, { log, signal, clock, random });

  const probed = await probeCapabilities({ dataDir: options.dataDir, user: taskUser });
  for (const line of missingToolLines(probed)) log(line);
  const addonsDir = options.addonsDir ?? joinPath(options.dataDir, "addons");
  const addons = await loadAddons(addonsDir, { deno: probed.deno !== null });
  for (const line of addons.skipped) log(line);
  if (addons.addons.size > 0) log(`add-ons from ${addonsDir}: ${[...addons.addons.keys()].join(", ")}`);
  const capabilities: Capabilities = {
    sandbox: probed.sandbox,
    unsandboxed: options.allowUnsandboxed ?? false,
    cgroup: probed.cgroup,
    deno: probed.deno !== null,
    git: probed.git,
    ...(options.verifyKeys?.length ? { verifyKeys: [...new Set(options.verifyKeys)] } : {}),
    ...(addons.addons.size > 0 ? { addons: advertised(addons.addons.values()) } : {}),
  };
  const exec = new ExecRuntime({
    dataDir: options.dataDir,
    taskUser,
    cgroup: probed.cgroup ? await detectCgroup() : null,
    deno: probed.deno,
    allowLocalGit: options.allowLocalGit ?? false,
    clock,
    addons: addons.addons,
  });
  const runtime: Runtime = { capabilities, exec };
  if (taskUser) {
    log(`tasks run as the user "${taskUser.name}" (uid ${taskUser.uid}), not as root`);
    // Tasks get the agent's PATH: a directory only root may enter finds nothing for them.
    const closed = options.allowUnsandboxed ? unreachablePathEntries(Deno.env.get("PATH") ?? "", taskUser) : [];
    if (closed.length > 0) log(`unsandboxed tasks will find no program in these PATH entries: ${closed.join("; ")}`);
  }
  if (exec.cgroup && !exec.cgroup.pidsRoot) log("no pids cgroup controller: tasks have no process limit");

  // What the last run left: reports never acknowledged, and processes that may still be running.
  const { journal, pending } = await Journal.open(joinPath(options.dataDir, "journal"), clock);
  const registry = new RunRegistry(joinPath(options.dataDir, "runs"));
  const leftovers = await registry.recover(exec.cgroup, log);
  const lost = lostAttempts(leftovers, pending, clock.now());
  journal.append(lost);
  const backlog = [...pending, ...lost];
  // Nothing runs yet: whatever is under work/ is the last run's.
  await removeTree(joinPath(options.dataDir, "work"));
  // Unsandboxed tasks reach their directory by its path, as the task user.
  if (taskUser && options.allowUnsandboxed) openWorkRoot(options.dataDir, joinPath(options.dataDir, "work"));

  const slots = options.slots ?? navigator.hardwareConcurrency;
  const client = new FabricClient({ url: trackers.map((tracker) => `https://${tracker}`), token: "", caPem });
  let joined;
  try {
    joined = await join({
      client,
      dataDir: options.dataDir,
      trackers,
      saved,
      name: options.name,
      token: options.token,
      advertised: {
        labels: options.labels ?? {},
        slots,
        version: FABRIC_VERSION,
        os: Deno.build.os,
        arch: Deno.build.arch,
        capabilities,
        resources: machineResources(options.dataDir, options.resources),
        weight: options.weight,
      },
      holding: attemptsOf(backlog),
      endOwnDrain: await hadOwnDrain(options.dataDir),
      log,
      signal,
      clock,
      random,
    });
    await clearOwnDrain(options.dataDir);
  } catch (error) {
    client.close();
    journal.close();
    await exec.close();
    throw error;
  }
  log(
    `agent ${joined.identity.name} joined ${hostPort(client.url)} (${slots} slots; ${
      describeCapabilities(capabilities)
    })`,
  );
  if (joined.pending) {
    log(
      `waiting for approval: this agent takes no work until an admin runs fabric agents approve ${joined.identity.name}`,
    );
  }
  // The other trackers sharing its store, so that the agent moves to one of them if its own goes.
  const trackerList = new TrackerList({
    client,
    dataDir: options.dataDir,
    identity: joined.identity,
    given,
    clock,
    log,
  });
  await trackerList.learn();
  trackerList.start();
  if (exec.allowLocalGit) log("git tasks may check out repositories on this machine's disk (--allow-local-git)");
  const verifyKeys = capabilities.verifyKeys;
  if (verifyKeys) log(`runs only jobs signed by ${verifyKeys.map(keyName).join(", ")} (--verify-key)`);
  let loop: AgentLoop | null = null;
  const reporter = new Reporter({
    client,
    journal,
    clock,
    random,
    backlog,
    maxJournalBytes: options.maxJournalBytes ?? DEFAULT_JOURNAL_BYTES,
    syncResults: options.sync === "full",
    onStale: (ref) => loop?.markStale(ref),
    onAssignments: (assignments) => loop?.take(assignments),
    busy: () => (loop?.waitingCount ?? 0) > 0,
    log,
  });
  loop = new AgentLoop({
    client,
    identity: trackerList.identity,
    dataDir: options.dataDir,
    slots,
    heartbeatMs: joined.heartbeatMs,
    runtime,
    journal,
    registry,
    reporter,
    stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
    clock,
    random,
    log,
    verifier: verifyKeys ? new JobVerifier(verifyKeys, joined.identity.name) : null,
    packs: new PackCache({
      dir: joinPath(options.dataDir, "cache", "packs"),
      client,
      maxBytes: DEFAULT_PACK_CACHE_BYTES,
    }),
    artifacts: client,
    channels: client,
  });
  const handle = loop.start();
  handle.done.finally(() => trackerList.stop()).catch(() => {});
  return handle;
}

/** `--join A,B`: each `host:port` (an `https://` before it, or a `/` after it, is dropped). */
function joinList(join: string): string[] {
  const trackers = join.split(",").map((part) => part.trim().replace(/^https:\/\//, "").replace(/\/+$/, ""))
    .filter((part) => part !== "");
  if (trackers.length === 0) throw new FabricError("bad_request", `--join names no tracker: "${join}"`);
  return [...new Set(trackers)];
}
