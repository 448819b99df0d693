/** `fabric agent`: run a worker that joins a tracker. */
import { startAgent } from "../agent/mod.ts";
import { joinTokenCaHash } from "../protocol/announce.ts";
import {
  durationFlag,
  intFlag,
  keyValueFlag,
  numberFlag,
  type Parsed,
  parseFlags,
  sizeFlag,
  stringFlag,
  syncFlag,
  UsageError,
  wantsHelp,
} from "./args.ts";
import { keepSettings, withKeptSettings } from "./agent_settings.ts";
import { lockDataDir } from "./data_dir_lock.ts";
import { readVerifyKeys } from "./key.ts";
import { daemonLog, untilSignal } from "./logger.ts";
import { defaultAgentDir } from "./paths.ts";

const USAGE = `
fabric agent [--join HOST:PORT[,HOST:PORT...]] --token-file FILE [--ca-hash sha256:HEX | --ca FILE] [options]

Run a worker. The first start joins with the tracker's join token and keeps its own credential in
DIR; later starts need no token (and no flags at all, if the tracker's address is unchanged): the
flags below from --labels on are kept in DIR/settings.json and used again when not given, and a flag
given again wins.

  --join HOST:PORT,...    the tracker, or several sharing one store (any of them will do); the agent
                          learns the others from the one it reaches, keeps them in DIR/agent.json, and
                          moves to another by itself when its tracker stops answering. Without it, a
                          first start listens on UDP 7444 for the trackers' announcements and joins
                          the first whose CA is the one the join token names (others are ignored)
  --token-file FILE       the join token (first start only): a copy of the tracker's join.token; or
                          give it in FABRIC_JOIN_TOKEN (which no task then sees). An admin token
                          also joins, and may take back the name of an agent that is registered
  --token TOKEN           the join token on the command line: every user of this machine sees it
                          (ps); kept for scripts, use --token-file or FABRIC_JOIN_TOKEN
  --ca-hash sha256:HEX    pin the tracker's CA by the hash it printed (a join token names it already;
                          needed only with a token from before tokens named it)
  --ca FILE               or trust this CA certificate file
  --name NAME             this agent's name (default: the host name)
  --labels k=v,...        labels placement rules can match
  --slots N               tasks run at once (default: the number of CPUs)
  --data-dir DIR          credential and work directories (default ~/.local/share/fabric/agent); one agent
                          per directory: a second stops at once (exit code 5)
  --stop-grace DURATION   on SIGTERM or Ctrl-C the agent drains: no new work, and running tasks may go on
                          this long before they are handed back (default 30s; a second signal: at once)
  --journal-limit SIZE    undelivered reports kept on disk while the tracker is away (default 256M);
                          past it task output is dropped with a marker, results are always kept (while
                          the tracker takes reports, a fast task is held back to its pace instead)
  --weight W              placement weight: a task's score here is utilisation x W (default 1)
  --cpu N, --memory SIZE, --disk SIZE
                          capacity offered to tasks' resources (default: the machine's CPUs and memory,
                          and the data directory's free disk)
  --allow-unsandboxed     run tasks that set "sandbox: false" without bubblewrap
  --allow-local-git       let git tasks check out repositories on this machine's disk (a path or
                          file://); off by default, since any job could then read any repository
                          this agent's user can (the agent's own data directory excepted)
  --task-user NAME        an agent running as root runs every task as this user, never as root
                          (default: fabric-task, created if missing as Debian packages create system
                          users, with useradd --system --user-group --no-create-home and the shell
                          /usr/sbin/nologin); an agent running as another user runs tasks as itself
  --sync normal|full      normal (default): reports are journaled before they are sent and survive the
                          agent's crash; full: results also wait for the disk (survive a power loss)
  --verify-key FILE       run only tasks of jobs signed (fabric submit --sign) by a key in FILE, a public
                          key file of fabric key generate (PEM; one or more keys; the flag may repeat).
                          Each task is checked here against its signed job, so that not even the tracker
                          can make this agent run anything else
  --addons DIR            load the add-ons (custom task kinds, docs/addons.md) of DIR, one folder each
                          with an addon.yaml (default: addons/ in the data directory); one that does
                          not hold is skipped with the reason logged
  --reset-settings        forget the flags kept from earlier starts: only those given now count
`;

/** As many keys as an agent advertises (protocol/agent.ts). */
const MAX_VERIFY_KEYS = 64;

export const AGENT_FLAGS = {
  join: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  "ca-hash": { type: "string" },
  ca: { type: "string" },
  name: { type: "string" },
  labels: { type: "string" },
  slots: { type: "string" },
  "data-dir": { type: "string" },
  "stop-grace": { type: "string" },
  "journal-limit": { type: "string" },
  weight: { type: "string" },
  cpu: { type: "string" },
  memory: { type: "string" },
  disk: { type: "string" },
  "allow-unsandboxed": { type: "boolean" },
  "allow-local-git": { type: "boolean" },
  "task-user": { type: "string" },
  sync: { type: "string" },
  "verify-key": { type: "string", multiple: true },
  "reset-settings": { type: "boolean" },
  addons: { type: "string" },
} as const;

export async function agentCommand(args: string[]): Promise<number> {
  const given = parseFlags("agent", args, AGENT_FLAGS);
  if (wantsHelp(given, USAGE)) return 0;
  if (given.positionals.length > 0) {
    throw new UsageError(`fabric agent takes no arguments, got "${given.positionals[0]}"`);
  }
  const dataDir = stringFlag(given, "data-dir") ?? defaultAgentDir();
  const { parsed, used } = await withKeptSettings(dataDir, given, given.values["reset-settings"] === true);
  const caHash = stringFlag(parsed, "ca-hash");
  if (caHash !== undefined && !/^sha256:[0-9a-f]{64}$/i.test(caHash)) {
    throw new UsageError(`--ca-hash takes sha256: and 64 hex digits, got "${caHash}"`);
  }
  const caFile = stringFlag(parsed, "ca");
  let caPem: string | undefined;
  if (caFile !== undefined) {
    try {
      caPem = await Deno.readTextFile(caFile);
    } catch (error) {
      throw new UsageError(`Cannot read the CA file "${caFile}": ${(error as Error).message}`);
    }
  }
  const verifyKeys: string[] = [];
  for (const file of (parsed.values["verify-key"] ?? []) as unknown as string[]) {
    verifyKeys.push(...await readVerifyKeys(file));
  }
  if (new Set(verifyKeys).size > MAX_VERIFY_KEYS) {
    throw new UsageError(`--verify-key: an agent trusts at most ${MAX_VERIFY_KEYS} keys, got ${verifyKeys.length}`);
  }
  const token = await joinToken(parsed);
  // A join token names its CA (protocol/announce.ts): no --ca-hash needed, and one given must agree.
  const tokenCa = token === undefined ? null : joinTokenCaHash(token);
  if (tokenCa && caHash !== undefined && caHash.toLowerCase() !== tokenCa) {
    throw new UsageError(`The join token is for the CA ${tokenCa}, and --ca-hash names another (${caHash})`);
  }
  // Before anything else: a second agent here would take the first's running tasks for leftovers.
  const lock = await lockDataDir(dataDir, "agent");
  const log = daemonLog("agent");
  if (used.length > 0) {
    log(`kept from the last start: ${used.join(" ")} (a flag given now wins; --reset-settings forgets them)`);
  }
  if (stringFlag(parsed, "token") !== undefined) {
    log(
      "warning: --token shows the join token to every user of this machine (ps); use --token-file FILE or FABRIC_JOIN_TOKEN",
    );
  }
  // Listened for before the agent joins, which it announces: a SIGTERM right after must drain it. One
  // while it still waits for a tracker (which may be down for as long as it likes) ends that wait.
  const stopping = untilSignal();
  const starting = new AbortController();
  stopping.then(() => starting.abort());
  const agent = await startAgent({
    signal: starting.signal,
    dataDir,
    join: stringFlag(parsed, "join"),
    token,
    caHash: caHash ?? (caPem === undefined ? tokenCa ?? undefined : undefined),
    caPem,
    name: stringFlag(parsed, "name"),
    labels: keyValueFlag(parsed, "labels"),
    slots: intFlag(parsed, "slots", 1, 4096),
    stopGraceMs: durationFlag(stringFlag(parsed, "stop-grace"), "--stop-grace"),
    maxJournalBytes: sizeFlag(stringFlag(parsed, "journal-limit"), "--journal-limit"),
    sync: syncFlag(parsed),
    allowUnsandboxed: parsed.values["allow-unsandboxed"] === true,
    allowLocalGit: parsed.values["allow-local-git"] === true,
    taskUser: stringFlag(parsed, "task-user"),
    weight: numberFlag(parsed, "weight", 0.001, 1000),
    resources: {
      cpu: numberFlag(parsed, "cpu", 0, 4096),
      memory: sizeFlag(stringFlag(parsed, "memory"), "--memory"),
      disk: sizeFlag(stringFlag(parsed, "disk"), "--disk"),
    },
    log,
    verifyKeys: verifyKeys.length > 0 ? verifyKeys : undefined,
    addonsDir: stringFlag(parsed, "addons"),
  }).catch(async (error) => {
    if (!starting.signal.aborted) throw error;
    log(`${await stopping}: stopped before joining a tracker`);
    return null;
  });
  if (agent === null) {
    lock.release();
    return 0;
  }
  // Kept once they made an agent that joined: a flag that stops the start is not kept.
  await keepSettings(dataDir, parsed);
  const outcome = await Promise.race([stopping, agent.done.then(() => null)]);
  if (outcome) {
    log(`${outcome}: draining, then stopping (signal again to hand running tasks back at once)`);
    const stopped = agent.stop();
    untilSignal().then((again) => {
      log(`${again}: handing running tasks back now`);
      agent.stop();
    });
    await stopped;
  }
  await agent.done;
  lock.release();
  return 0;
}

/** The variable that may hold the join token: read once, then removed, so that no task can ask for it. */
export const JOIN_TOKEN_ENV = "FABRIC_JOIN_TOKEN";

/**
 * The join token, from --token-file, FABRIC_JOIN_TOKEN or --token (one of them), or none. The
 * variable is removed from this process's environment whichever is used: a job may ask for the agent's
 * variables (`permissions.env`), and with the join token anyone can register agents.
 */
export async function joinToken(parsed: Parsed): Promise<string | undefined> {
  const fromEnv = Deno.env.get(JOIN_TOKEN_ENV) || undefined;
  Deno.env.delete(JOIN_TOKEN_ENV);
  const file = stringFlag(parsed, "token-file");
  const flag = stringFlag(parsed, "token");
  const given = [file && "--token-file", flag !== undefined && "--token", fromEnv && JOIN_TOKEN_ENV].filter(Boolean);
  if (given.length > 1) throw new UsageError(`Give the join token one way, not with ${given.join(" and ")}`);
  if (file === undefined) return flag ?? fromEnv;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new UsageError(`Cannot read the join token file "${file}": ${(error as Error).message}`);
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) {
    throw new UsageError(`The join token file "${file}" must hold the token alone (as the tracker's join.token)`);
  }
  return token;
}
