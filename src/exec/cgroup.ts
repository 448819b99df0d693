/**
 * Memory and process limits and a sure kill through cgroups: each task has a group of its own under a
 * `fabric` parent in the memory hierarchy (cgroup v2 or v1) and, where the pids controller is, in the
 * pids hierarchy (the same group on v2), new or kept from an earlier task. The group knows every
 * process the task started, even one that left its session with setsid, so ending the task empties it.
 * No RLIMIT_AS: it limits address space, not memory, and Deno aborts under it. No RLIMIT_NPROC for
 * processes: it counts all processes of a user, and every task runs as the same one.
 */
import { join } from "node:path";

/** Where this machine lets fabric create memory cgroups. */
export interface CgroupSupport {
  version: "v1" | "v2";
  /** The mount of the hierarchy with the memory controller, e.g. /sys/fs/cgroup or /sys/fs/cgroup/memory. */
  root: string;
  /** The mount of the hierarchy with the pids controller (v2: `root`); absent or null: no process limits. */
  pidsRoot?: string | null;
}

/** One task's group. */
export interface TaskCgroup {
  version: "v1" | "v2";
  path: string;
  /** Kept for the next task once empty (a group without a limit) instead of removed. */
  pooled?: boolean;
  /** The group's OOM count when the task got it: only kills past it are the task's. */
  oomBase?: number;
  /** The group in the pids hierarchy (v2: `path` itself); absent or null: no process limit. */
  pidsPath?: string | null;
  /** The pids.max last written (null: "max"): written again only when it changes. */
  pidsMax?: number | null;
}

const PARENT = "fabric";
const STALE_MS = 60_000;

/**
 * The memory hierarchy fabric can use, found by really creating (and removing) a group in it; null
 * when none. Also clears empty groups left there by an agent that was killed.
 */
export async function detectCgroup(): Promise<CgroupSupport | null> {
  let mountinfo: string;
  try {
    mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  } catch {
    return null;
  }
  for (const memory of memoryMounts(mountinfo)) {
    const withPids = { ...memory, pidsRoot: pidsMount(mountinfo, memory) };
    // With process limits if they can be had here, else memory limits alone.
    for (const candidate of withPids.pidsRoot ? [withPids, memory] : [memory]) {
      try {
        const group = createTaskCgroup(candidate, {
          name: `probe-${Deno.pid}-${crypto.randomUUID()}`,
          memoryBytes: null,
          pids: 64,
        });
        await removeTaskCgroup(group);
        await removeStaleGroups(candidate);
        return candidate;
      } catch {
        // Not writable or no such controller here: try the next.
      }
    }
  }
  return null;
}

/** Where the pids controller is for a memory hierarchy: the same cgroup2 mount, or a v1 pids mount. */
export function pidsMount(mountinfo: string, memory: CgroupSupport): string | null {
  if (memory.version === "v2") {
    return readOrEmpty(join(memory.root, "cgroup.controllers")).split(/\s+/).includes("pids") ? memory.root : null;
  }
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!after) continue;
    const [fsType, , superOptions = ""] = after.split(" ");
    if (fsType === "cgroup" && superOptions.split(",").includes("pids")) return unescapeMount(before.split(" ")[4]);
  }
  return null;
}

/** cgroup2 mounts whose controllers include memory, then cgroup v1 mounts of the memory controller. */
export function memoryMounts(mountinfo: string): CgroupSupport[] {
  const v2: CgroupSupport[] = [];
  const v1: CgroupSupport[] = [];
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!after) continue;
    const mountPoint = unescapeMount(before.split(" ")[4]);
    const [fsType, , superOptions = ""] = after.split(" ");
    if (fsType === "cgroup2") {
      const controllers = readOrEmpty(join(mountPoint, "cgroup.controllers")).split(/\s+/);
      if (controllers.includes("memory")) v2.push({ version: "v2", root: mountPoint });
    } else if (fsType === "cgroup" && superOptions.split(",").includes("memory")) {
      v1.push({ version: "v1", root: mountPoint });
    }
  }
  return [...v2, ...v1];
}

/**
 * Creates the task's group (synchronously, so a process can be started right after) with its
 * memory limit (swap is limited too, or the limit would only move the memory to swap) and its
 * process limit (null: none).
 */
export function createTaskCgroup(
  support: CgroupSupport,
  options: { name: string; memoryBytes: number | null; pids?: number | null },
): TaskCgroup {
  const parent = join(support.root, PARENT);
  Deno.mkdirSync(parent, { recursive: true });
  const pidsRoot = support.pidsRoot ?? null;
  if (support.version === "v2") {
    // A v2 group has a controller only if its parent hands it down.
    const controllers = pidsRoot ? ["memory", "pids"] : ["memory"];
    enableControllers(support.root, controllers);
    enableControllers(parent, controllers);
  }
  const path = join(parent, options.name);
  Deno.mkdirSync(path);
  const group: TaskCgroup = { version: support.version, path, pidsPath: null };
  try {
    if (pidsRoot && support.version === "v1") {
      const pidsPath = join(pidsRoot, PARENT, options.name);
      Deno.mkdirSync(join(pidsRoot, PARENT), { recursive: true });
      Deno.mkdirSync(pidsPath);
      group.pidsPath = pidsPath;
    } else if (pidsRoot) group.pidsPath = path;
    if (options.memoryBytes !== null) setMemoryLimit(group, options.memoryBytes);
    else if (!fileExists(join(path, support.version === "v2" ? "memory.max" : "memory.limit_in_bytes"))) {
      throw new Error(`cgroup "${path}" has no memory controller`);
    }
    if (group.pidsPath) setPidsLimit(group, options.pids ?? null);
  } catch (error) {
    for (const dir of groupDirs(group)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Left for the next cleanup; the error below is what matters.
      }
    }
    throw error;
  }
  return group;
}

/** The group named `name` under `fabric/` (as a task's is recorded), in each hierarchy. */
export function namedTaskCgroup(support: CgroupSupport, name: string): TaskCgroup {
  const path = join(support.root, PARENT, name);
  const pidsRoot = support.pidsRoot ?? null;
  const pidsPath = pidsRoot === null ? null : support.version === "v2" ? path : join(pidsRoot, PARENT, name);
  return { version: support.version, path, pidsPath };
}

/** The group's directories: one per hierarchy it is in. */
function groupDirs(group: TaskCgroup): string[] {
  return group.pidsPath && group.pidsPath !== group.path ? [group.path, group.pidsPath] : [group.path];
}

/** Past this many of an earlier task's processes not yet reaped, a kept group is not handed on. */
const MAX_LINGERING = 32;

/**
 * Sets the most processes (and threads) the group's task may have; false where there is no pids
 * controller. Over it, fork and clone fail with EAGAIN: "Resource temporarily unavailable".
 *
 * A process killed with an earlier task leaves the group at once but counts until its parent reaps
 * it, which for an orphan is init, and not every init is quick (here ~1 s; every sandbox leaves one:
 * bwrap exits before its own init). Those are added to the limit, so that the task gets all of its
 * own; once they are reaped it could have that many more (at most MAX_LINGERING, typically one).
 */
export function setPidsLimit(group: TaskCgroup, pids: number | null): boolean {
  if (!group.pidsPath) return false;
  const lingering = pids === null ? 0 : lingeringPids(group);
  if (lingering > MAX_LINGERING) throw new RangeError(`${lingering} processes of an earlier task are not reaped yet`);
  const value = pids === null ? null : Math.floor(pids) + lingering;
  if (group.pidsMax !== value) {
    Deno.writeTextFileSync(join(group.pidsPath, "pids.max"), value === null ? "max" : String(value));
    group.pidsMax = value;
  }
  return true;
}

/** What the group counts beyond its live threads: exited processes no one has reaped yet. */
function lingeringPids(group: TaskCgroup): number {
  const current = Number(readOrEmpty(join(group.pidsPath!, "pids.current")).trim() || "0");
  if (current === 0) return 0;
  const threads = readOrEmpty(join(group.pidsPath!, group.version === "v2" ? "cgroup.threads" : "tasks"));
  return Math.max(0, current - threads.split("\n").filter(Boolean).length);
}

function setMemoryLimit(group: TaskCgroup, bytes: number): void {
  const value = String(Math.floor(bytes));
  if (group.version === "v2") {
    Deno.writeTextFileSync(join(group.path, "memory.max"), value);
    writeIfExists(join(group.path, "memory.swap.max"), "0");
    // One process over the limit ends the whole task, not a random part of it.
    writeIfExists(join(group.path, "memory.oom.group"), "1");
  } else {
    // memsw (memory + swap) must never be below the memory limit, so the memory limit goes first.
    Deno.writeTextFileSync(join(group.path, "memory.limit_in_bytes"), value);
    writeIfExists(join(group.path, "memory.memsw.limit_in_bytes"), value);
  }
}

/**
 * The argv that moves itself into the group (each of its hierarchies), sets the task's file size limit
 * (RLIMIT_FSIZE, soft and hard, `fileSizeBytes`), and then runs `command`: the task joins its group
 * before it runs anything, so nothing it starts can escape the limits. Without a group, only the limit.
 */
export function joinCgroupCommand(
  group: TaskCgroup | null,
  command: string[],
  options: { fileSizeBytes?: number | null } = {},
): string[] {
  const procs = group ? groupDirs(group).map((dir) => join(dir, "cgroup.procs")) : [];
  const fileSize = options.fileSizeBytes ?? null;
  // A bash or sh script joins as its first command: one program less to start per task. Not with a
  // file size limit, whose unit differs between bash (1 KiB) and POSIX shells (512 bytes).
  const shell = command[0].split("/").at(-1);
  if (
    fileSize === null && (shell === "bash" || shell === "sh") && command.at(-2) === "-c" &&
    !procs.some((path) => /['\n]/.test(path))
  ) {
    const writes = procs.map((path) => `echo $$ > '${path}'`).join(" && ");
    const join = `{ ${writes}; } 2>/dev/null || { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }; `;
    return [...command.slice(0, -1), join + command.at(-1)];
  }
  // $0 is the first file, $1... the others; shifted away, "$@" is the command. POSIX sh counts
  // ulimit -f in 512-byte blocks, and sets the hard limit too: the task cannot raise it.
  const steps = procs.map((_, i) => `echo $$ > "$${i}"`);
  if (fileSize !== null) steps.push(`ulimit -f ${Math.ceil(fileSize / 512)}`);
  if (procs.length > 1) steps.push(`shift ${procs.length - 1}`);
  steps.push('exec "$@"');
  return ["/bin/sh", "-c", steps.join(" && "), ...(procs.length > 0 ? procs : ["fabric-task"]), ...command];
}

/** The processes in the group now. */
export function cgroupPids(group: TaskCgroup): number[] {
  return readOrEmpty(join(group.path, "cgroup.procs")).split("\n").filter(Boolean).map(Number);
}

/** Whether the kernel's OOM killer killed a process of this group while the task had it. */
export function oomKilled(group: TaskCgroup): boolean {
  return oomCount(group) > (group.oomBase ?? 0);
}

function oomCount(group: TaskCgroup): number {
  if (group.version === "v2") return counter(readOrEmpty(join(group.path, "memory.events")), "oom_kill");
  const control = readOrEmpty(join(group.path, "memory.oom_control"));
  // Kernels before 4.13 have no oom_kill counter; hitting the limit is the best sign there is.
  if (/^oom_kill /m.test(control)) return counter(control, "oom_kill");
  return Number(readOrEmpty(join(group.path, "memory.failcnt")).trim() || "0");
}

/**
 * Empty groups without a limit, kept for the next task of this process: creating and removing a
 * memory cgroup (v1 especially) costs more than starting the task itself. Named after this process,
 * so that another agent's cleanup leaves them alone while it lives.
 */
const idle: TaskCgroup[] = [];
const MAX_IDLE = 16;
const POOL_PREFIX = "pool-";

/**
 * A group for one task: a kept one when there is no limit to set, else a new one named `name`.
 * Either way it is empty and the task owns it until `releaseTaskCgroup`.
 */
export function acquireTaskCgroup(
  support: CgroupSupport,
  options: { name?: string; memoryBytes: number | null; pids?: number | null },
): TaskCgroup {
  const pids = options.pids ?? null;
  if (options.memoryBytes !== null || options.name !== undefined) {
    return createTaskCgroup(support, { name: options.name ?? uniqueName(), memoryBytes: options.memoryBytes, pids });
  }
  for (let group = idle.pop(); group; group = idle.pop()) {
    if (group.version === support.version && fileExists(join(group.path, "cgroup.procs"))) {
      try {
        setPidsLimit(group, pids);
      } catch {
        // Gone, or holding too many of its last task's: removed, and the next one is tried.
        removeTaskCgroup(group).catch(() => {});
        continue;
      }
      group.oomBase = oomCount(group);
      return group;
    }
  }
  const group = createTaskCgroup(support, {
    name: `${POOL_PREFIX}${Deno.pid}-${crypto.randomUUID()}`,
    memoryBytes: null,
    pids,
  });
  group.pooled = true;
  group.oomBase = oomCount(group);
  return group;
}

/** Empties the group; a pooled one is kept for the next task, any other removed. */
export async function releaseTaskCgroup(group: TaskCgroup, options: { emptied?: boolean } = {}): Promise<void> {
  if (group.pooled && idle.length < MAX_IDLE) {
    if (options.emptied || await killCgroup(group)) {
      idle.push(group);
      return;
    }
  }
  await removeTaskCgroup(group);
}

/** Removes the kept groups (the agent is leaving); one the kernel still holds is left to the next cleanup. */
export function removeIdleCgroups(): void {
  for (const group of idle.splice(0)) {
    for (const dir of groupDirs(group)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Busy for a moment more, or gone: removed by the next agent's cleanup of stale groups.
      }
    }
  }
}

function uniqueName(): string {
  return `task-${Deno.pid}-${crypto.randomUUID()}`;
}

/** SIGKILL to everything in the group until it is empty (bounded: a fork bomb cannot keep it busy forever). */
export async function killCgroup(group: TaskCgroup): Promise<boolean> {
  if (group.version === "v2") writeIfExists(join(group.path, "cgroup.kill"), "1");
  for (let round = 0; round < 200; round++) {
    const pids = cgroupPids(group);
    if (pids.length === 0) return true;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    // Dying processes leave within a millisecond or two: look again soon, then less often.
    await new Promise((resolve) => setTimeout(resolve, Math.min(1 + round, 10)));
  }
  return cgroupPids(group).length === 0;
}

/** Empties and removes the group; a group the kernel still holds (EBUSY) is retried briefly. */
export async function removeTaskCgroup(group: TaskCgroup): Promise<void> {
  await killCgroup(group);
  for (const dir of groupDirs(group)) {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await Deno.remove(dir);
        break;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) break;
        if (attempt === 99) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1 + attempt, 20)));
      }
    }
  }
}

/**
 * Removes the empty groups an agent killed with -9 left behind. Only empty ones (rmdir refuses
 * the others) and only old ones: another agent on this machine may have just created its group.
 */
async function removeStaleGroups(support: CgroupSupport): Promise<void> {
  const roots = support.pidsRoot && support.pidsRoot !== support.root
    ? [support.root, support.pidsRoot]
    : [support.root];
  const before = Date.now() - STALE_MS;
  for (const root of roots) {
    const parent = join(root, PARENT);
    for await (const entry of Deno.readDir(parent)) {
      if (!entry.isDirectory || keptByLiveProcess(entry.name)) continue;
      const path = join(parent, entry.name);
      try {
        const info = await Deno.stat(path);
        if (
          (info.mtime?.getTime() ?? Infinity) < before && cgroupPids({ version: support.version, path }).length === 0
        ) {
          await Deno.remove(path);
        }
      } catch {
        // Busy or gone: not ours to worry about.
      }
    }
  }
}

/** A pooled group whose agent still runs (it may hand the group to its next task at any moment). */
function keptByLiveProcess(name: string): boolean {
  const pid = name.startsWith(POOL_PREFIX) ? Number(name.slice(POOL_PREFIX.length).split("-")[0]) : NaN;
  return Number.isInteger(pid) && pid !== Deno.pid && fileExists(`/proc/${pid}`);
}

function enableControllers(dir: string, controllers: string[]): void {
  const control = join(dir, "cgroup.subtree_control");
  const enabled = readOrEmpty(control).split(/\s+/);
  const missing = controllers.filter((controller) => !enabled.includes(controller));
  if (missing.length > 0) Deno.writeTextFileSync(control, missing.map((controller) => `+${controller}`).join(" "));
}

function counter(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  return match ? Number(match[1]) : 0;
}

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function writeIfExists(path: string, value: string): void {
  if (fileExists(path)) Deno.writeTextFileSync(path, value);
}

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** mountinfo escapes spaces and friends as octal (\040). */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
