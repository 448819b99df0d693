/**
 * The bubblewrap sandbox of shell tasks: a read-only view of the system, the task's own directory
 * writable, a private /tmp, no network unless allowed, and the agent's own data (its credential)
 * never visible. Mounts are applied in argument order, later ones on top of earlier ones, so the
 * order below is the policy.
 */
import { resolve } from "node:path";
import type { Permissions } from "../protocol/mod.ts";

export interface SandboxOptions {
  /** The task's directory: bound read-write at the same path and the working directory inside. */
  workDir: string;
  permissions: Permissions;
  /** Paths never visible inside (the agent's data directory), even under a read or write path. */
  hide: string[];
  /** Paths bound read-only after the masks, so they stay visible even inside a hidden path. */
  extraReadPaths?: string[];
  /** Where the command starts, inside workDir (a git checkout); workDir itself by default. */
  cwd?: string;
}

/** What a normal bash, python, git or perl needs to start; never /root, /home, /srv, /var, /work or /tmp. */
const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix/store"];

/** The bwrap argv up to and including "--"; the task's command follows it. */
export function bwrapArgs(options: SandboxOptions): string[] {
  const { permissions } = options;
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
  ];
  // bwrap cannot filter by host:port: a list shares the host's network, and only script tasks
  // (whose Deno gets the exact list) are held to it.
  if (!hasNetwork(permissions.net)) args.push("--unshare-net");

  args.push(...systemMounts());
  // Before the permission binds, so that a read or write path under /tmp lands inside the private /tmp.
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");

  const binds = [
    ...permissions.read.map((path) => ({ path, flag: "--ro-bind" })),
    ...permissions.write.map((path) => ({ path, flag: "--bind" })),
  ].filter((bind) => exists(bind.path));
  // Parents before children, so a nested path keeps its own mode instead of being covered.
  binds.sort((a, b) => depth(a.path) - depth(b.path));
  for (const bind of binds) args.push(bind.flag, bind.path, bind.path);

  // The masks come after every bind that could contain them...
  for (const path of options.hide) {
    const info = statOrNull(path);
    if (info?.isDirectory) args.push("--tmpfs", path);
    else if (info) args.push("--ro-bind", "/dev/null", path);
  }
  // ...and the task's own paths after the masks, since they may live inside a hidden directory.
  args.push("--bind", options.workDir, options.workDir);
  for (const path of options.extraReadPaths ?? []) {
    if (exists(path)) args.push("--ro-bind", path, path);
  }
  args.push("--chdir", options.cwd ?? options.workDir, "--");
  return args;
}

function hasNetwork(net: boolean | string[]): boolean {
  return net === true || (Array.isArray(net) && net.length > 0);
}

/**
 * The system's layout changes with a package install at most: it is looked at again every few
 * seconds, not for every task (a dozen stat calls and the errors of the paths that do not exist).
 */
const SYSTEM_MOUNTS_TTL_MS = 5000;
let systemMountsCache: { args: string[]; at: number } | null = null;

function systemMounts(): string[] {
  const now = Date.now();
  if (systemMountsCache === null || now - systemMountsCache.at >= SYSTEM_MOUNTS_TTL_MS) {
    systemMountsCache = { args: lookAtSystemMounts(), at: now };
  }
  return systemMountsCache.args;
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

function exists(path: string): boolean {
  return statOrNull(path) !== null;
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
