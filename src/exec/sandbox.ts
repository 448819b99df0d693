/**
 * The bubblewrap sandbox of shell tasks: a read-only view of the system, the task's own directory
 * writable, a private /tmp of a bounded size, no network unless allowed, the kernel's knobs in /proc
 * read-only, and the agent's own data (its credential) never visible. Mounts are applied in argument
 * order, later ones on top of earlier ones, so the order below is the policy. bwrap runs as the agent;
 * when that is root, the task's program is started by setpriv as the task user (see task_user.ts),
 * the only capabilities bwrap leaves being the two that switch.
 */
import { resolve } from "node:path";
import { type Clock, forbiddenPath, type Permissions } from "../protocol/mod.ts";
import { findExecutable, SYSTEM_PATH } from "./_path_lookup.ts";
import { dropPrivileges, type TaskUser } from "./task_user.ts";

export interface SandboxOptions {
  /** The task's directory: bound read-write at the same path and the working directory inside. */
  workDir: string;
  permissions: Permissions;
  /** Paths never visible inside (the agent's data directory); a read or write path exposing one is refused. */
  hide: string[];
  /** Paths bound read-only after the masks, so they stay visible even inside a hidden path. */
  extraReadPaths?: string[];
  /** Where the command starts, inside workDir (a git checkout); workDir itself by default. */
  cwd?: string;
  /** Who the task runs as, when not the agent's user (an agent running as root); null: the agent's. */
  user?: TaskUser | null;
  /** The size of the private /tmp (it is memory): DEFAULT_TMP_BYTES unless given. */
  tmpBytes?: number;
}

/** A task's /tmp unless its job sets `resources.disk`, which then caps its /tmp too. */
export const DEFAULT_TMP_BYTES = 1024 ** 3;

/**
 * /proc's knobs: bound read-only over the sandbox's own /proc, which would otherwise let a process
 * with the right uid (root's, before a task user) write sysctls (`kernel.core_pattern` runs a
 * program as root on the host) or trigger sysrq. The same list as Docker's read-only /proc paths.
 */
const PROC_KNOBS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** What a normal bash, python, git or perl needs to start; never /root, /home, /srv, /var, /work or /tmp. */
const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix/store"];

/**
 * The bwrap argv up to and including "--" (then the switch to the task user, if any); the task's
 * command follows it. `system`: the binds of the system's directories (an agent's `SystemMounts`); by
 * default looked at now. Throws a RangeError naming the path when a read or write path resolves to
 * the root, /proc or /sys, or exposes a hidden path: the task must not start.
 */
export function bwrapArgs(options: SandboxOptions, system: string[] = lookAtSystemMounts()): string[] {
  const { permissions } = options;
  const user = options.user ?? null;
  const binds = grantedBinds(permissions, options.hide);
  const args = [
    "bwrap",
    "--new-session", // no TIOCSTI into the agent's terminal
    "--die-with-parent",
    "--unshare-pid", // everything the task starts dies with it, setsid or not
    "--unshare-ipc",
    "--unshare-uts",
    // An agent running as root would otherwise hand the task every capability (mount, mknod...).
    "--cap-drop",
    "ALL",
    // What setpriv needs to switch to the task user, and nothing else; gone with the switch.
    ...(user ? ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] : []),
  ];
  // bwrap cannot filter by host:port: a list shares the host's network, and only script tasks
  // (whose Deno gets the exact list) are held to it.
  if (!hasNetwork(permissions.net)) args.push("--unshare-net");

  args.push(...system);
  args.push("--proc", "/proc");
  for (const knob of procKnobs()) args.push("--ro-bind", knob, knob);
  args.push("--dev", "/dev");
  // Before the permission binds, so that a read or write path under /tmp lands inside the private /tmp.
  // Anyone's, as a /tmp is (the task's user is not bwrap's), and no larger than its cap; so is
  // /dev/shm (POSIX shared memory and semaphores: Python's multiprocessing), which bwrap leaves
  // writable only by itself.
  const tmpBytes = String(Math.max(Math.floor(options.tmpBytes ?? DEFAULT_TMP_BYTES), 4096));
  if (bwrapTmpfsOptions()) {
    args.push("--perms", "1777", "--size", tmpBytes, "--tmpfs", "/dev/shm");
    args.push("--perms", "1777", "--size", tmpBytes);
  }
  args.push("--tmpfs", "/tmp");

  // Parents before children, so a nested path keeps its own mode instead of being covered.
  binds.sort((a, b) => depth(a.path) - depth(b.path));
  const made = new Set<string>();
  for (const bind of binds) args.push(...parentDirs(bind.path, [], made), bind.flag, bind.source, bind.path);

  // The masks come after every bind that could contain them...
  const masks: string[] = [];
  for (const path of options.hide) {
    const info = statOrNull(path);
    if (info?.isDirectory) {
      args.push(...(bwrapTmpfsOptions() ? ["--perms", "0711"] : []), "--tmpfs", path);
      masks.push(resolve(path));
    } else if (info) args.push("--ro-bind", "/dev/null", path);
  }
  // ...and the task's own paths after the masks, since they may live inside a hidden directory.
  args.push(...parentDirs(options.workDir, masks, made), "--bind", options.workDir, options.workDir);
  for (const path of options.extraReadPaths ?? []) {
    if (statOrNull(path) !== null) args.push(...parentDirs(path, masks, made), "--ro-bind", path, path);
  }
  args.push("--chdir", options.cwd ?? options.workDir, "--");
  if (user) args.push(...dropPrivileges(user));
  return args;
}

/**
 * Makes the directories on the way to a mount point that the sandbox does not have: bwrap would make
 * them itself, but only its own user could pass them (mode 0700), not the task's. Inside a mask they
 * can be passed but not listed (0711); elsewhere they only show the path's names (0755). Not in the
 * system's directories, which are bound as they are.
 */
function parentDirs(path: string, masks: string[], made: Set<string>): string[] {
  if (!bwrapTmpfsOptions()) return [];
  const args: string[] = [];
  const parts = resolve(path).split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const dir = "/" + parts.slice(0, i).join("/");
    if (made.has(dir) || dir === "/tmp" || SYSTEM_PATHS.some((system) => isWithin(dir, system))) continue;
    made.add(dir);
    const masked = masks.some((mask) => dir !== mask && isWithin(dir, mask));
    if (masks.includes(dir)) continue;
    args.push("--perms", masked ? "0711" : "0755", "--dir", dir);
  }
  return args;
}

interface Bind {
  /** Where the task sees it: the path its job names. */
  path: string;
  /** What is bound there: that path with every link resolved, as it was checked. */
  source: string;
  flag: "--ro-bind" | "--bind";
}

/**
 * The read and write paths that exist, each resolved (every link, in the path or its parents) before
 * it is judged and bound as resolved: a link can lead to the root, /proc (`/etc/mtab` does) or into a
 * hidden directory, and a path can hold one (a read of "/home" holds an agent's data directory there).
 */
function grantedBinds(permissions: Permissions, hide: string[]): Bind[] {
  const hidden = hide.map((path) => ({ path, real: realPathOrNull(path) ?? resolve(path) }));
  const binds: Bind[] = [];
  const grants = [
    ...permissions.read.map((path) => ({ path, field: "read", flag: "--ro-bind" as const })),
    ...permissions.write.map((path) => ({ path, field: "write", flag: "--bind" as const })),
  ];
  for (const { path, field, flag } of grants) {
    const source = realPathOrNull(path);
    if (source === null) continue; // nothing there to bind (as before: the task sees no such path)
    const named = `the ${field} path "${path}"${source === resolve(path) ? "" : ` (resolves to "${source}")`}`;
    const forbidden = forbiddenPath(source);
    if (forbidden !== null) {
      throw new RangeError(`${named} cannot be granted: it ${forbidden.replace(/^must not be/, "is")}`);
    }
    const exposed = hidden.find(({ real }) => isWithin(source, real) || isWithin(real, source));
    if (exposed) throw new RangeError(`${named} exposes the agent's data directory "${exposed.path}"`);
    binds.push({ path: resolve(path), source, flag });
  }
  return binds;
}

/**
 * The knobs this kernel has (/proc/sysrq-trigger only with CONFIG_MAGIC_SYSRQ, /proc/bus with PCI...).
 * Kept for the process, not per agent: a fact of the running kernel, the same for every agent in it.
 */
let knobsCache: string[] | null = null;

function procKnobs(): string[] {
  knobsCache ??= PROC_KNOBS.filter((path) => lstatOrNull(path) !== null);
  return knobsCache;
}

/**
 * Whether this bwrap takes --size and --perms for a tmpfs (0.7 and later); asked once. Kept for the
 * process, not per agent: a fact of the bwrap on this process's PATH, the same for every agent in it.
 */
let tmpfsOptions: boolean | null = null;

function bwrapTmpfsOptions(): boolean {
  if (tmpfsOptions === null) {
    const bwrap = findExecutable("bwrap", Deno.env.get("PATH") ?? SYSTEM_PATH);
    try {
      const help = bwrap
        ? new Deno.Command(bwrap, { args: ["--help"], stdout: "piped", stderr: "piped" }).outputSync()
        : null;
      tmpfsOptions = help !== null && new TextDecoder().decode(help.stdout).includes("--size");
    } catch {
      tmpfsOptions = false;
    }
  }
  return tmpfsOptions;
}

function hasNetwork(net: boolean | string[]): boolean {
  return net === true || (Array.isArray(net) && net.length > 0);
}

/**
 * The system's layout changes with a package install at most: an agent looks at it again every few
 * seconds, not for every task (a dozen stat calls and the errors of the paths that do not exist).
 */
const SYSTEM_MOUNTS_TTL_MS = 5000;

/** The binds of the system's directories an agent's sandboxes get, as it last looked at them. */
export class SystemMounts {
  #clock: Clock;
  #seen: { args: string[]; at: number } | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  args(): string[] {
    const now = this.#clock.now();
    // Looked at again when the clock went back too: it would otherwise stay as it is until the clock catches up.
    if (this.#seen === null || now - this.#seen.at >= SYSTEM_MOUNTS_TTL_MS || now < this.#seen.at) {
      this.#seen = { args: lookAtSystemMounts(), at: now };
    }
    return this.#seen.args;
  }
}

/** Read-only binds of the system directories that exist; merged-/usr symlinks stay symlinks. */
function lookAtSystemMounts(): string[] {
  const args: string[] = [];
  const bound: string[] = [];
  const links: Array<{ path: string; target: string }> = [];
  for (const path of SYSTEM_PATHS) {
    const info = lstatOrNull(path);
    if (!info) continue;
    if (info.isSymlink) links.push({ path, target: Deno.readLinkSync(path) });
    else {
      args.push("--ro-bind", path, path);
      bound.push(path);
    }
  }
  for (const { path, target } of links) {
    const real = realPathOrNull(path);
    if (real === null) continue;
    // A link into a bound directory is recreated as it is; one elsewhere is bound at its own name.
    if (bound.some((dir) => isWithin(real, dir))) args.push("--symlink", target, path);
    else {
      args.push("--ro-bind", real, path);
      bound.push(path);
    }
  }
  // /etc/resolv.conf is often a link into /run, which is not shared as a whole (it holds sockets).
  const resolv = realPathOrNull("/etc/resolv.conf");
  if (resolv && !bound.some((dir) => isWithin(resolv, dir))) args.push("--ro-bind", resolv, resolv);
  return args;
}

function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

function depth(path: string): number {
  return resolve(path).split("/").filter(Boolean).length;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

function realPathOrNull(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch {
    return null;
  }
}
