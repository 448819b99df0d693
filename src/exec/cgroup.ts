/**
 * Memory and process limits and a sure kill through cgroups: each task has a group of its own under a
 * `fabric` parent in the memory hierarchy (cgroup v2 or v1) and, where the pids controller is, in the
 * pids hierarchy (the same group on v2), new or kept from an earlier task. The group knows every
 * process the task started, even one that left its session with setsid, so ending the task empties it.
 * No RLIMIT_AS: it limits address space, not memory, and Deno aborts under it. No RLIMIT_NPROC for
 * processes: it counts all processes of a user, and every task runs as the same one.
 */
import { join } from "node:path";
import { identify } from "./process_tree.ts";

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

/** The directory of fabric's groups in each hierarchy. */
export const PARENT = "fabric";

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

/** Most empty groups a pool keeps. */
const MAX_IDLE = 16;
/**
 * How a kept group is named: then the agent's pid and its start time, so that another agent's cleanup
 * leaves it alone while that very process lives (another agent in it included), not once a later
 * process has the same pid.
 */
export const POOL_PREFIX = "pool-";

/**
 * One agent's groups for its tasks, with the empty ones without a limit kept for its next task:
 * creating and removing a memory cgroup (v1 especially) costs more than starting the task itself.
 * Kept groups are named after this process, so that another agent's cleanup leaves them alone while
 * it lives; each pool keeps its own, and removes them when it closes.
 */
export class CgroupPool {
  #idle: TaskCgroup[] = [];
  #closed = false;

  /**
   * A group for one task: a kept one when there is no limit to set, else a new one named `name`.
   * Either way it is empty and the task owns it until `release`.
   */
  acquire(
    support: CgroupSupport,
    options: { name?: string; memoryBytes: number | null; pids?: number | null },
  ): TaskCgroup {
    const pids = options.pids ?? null;
    if (options.memoryBytes !== null || options.name !== undefined) {
      return createTaskCgroup(support, { name: options.name ?? uniqueName(), memoryBytes: options.memoryBytes, pids });
    }
    for (let group = this.#idle.pop(); group; group = this.#idle.pop()) {
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
      name: `${POOL_PREFIX}${Deno.pid}-${identify(Deno.pid)?.startedAt ?? 0}-${crypto.randomUUID()}`,
      memoryBytes: null,
      pids,
    });
    group.pooled = !this.#closed;
    group.oomBase = oomCount(group);
    return group;
  }

  /** Empties the group; a pooled one is kept for the next task (until the pool closes), any other removed. */
  async release(group: TaskCgroup, options: { emptied?: boolean } = {}): Promise<void> {
    if (group.pooled && !this.#closed && this.#idle.length < MAX_IDLE) {
      if ((options.emptied || await killCgroup(group)) && !this.#closed) {
        this.#idle.push(group);
        return;
      }
    }
    await removeTaskCgroup(group);
  }

  /**
   * Removes the kept groups and keeps no more (the agent is leaving); a group released after this is
   * removed. Each is tried at once; one the kernel still holds (for a few milliseconds after its last
   * process exits) is tried again briefly by the promise, then left to the next agent's cleanup.
   */
  close(): Promise<void> {
    this.#closed = true;
    const busy: TaskCgroup[] = [];
    for (const group of this.#idle.splice(0)) {
      for (const dir of groupDirs(group)) {
        try {
          Deno.removeSync(dir);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) busy.push(group);
        }
      }
    }
    return Promise.all([...new Set(busy)].map((group) => removeTaskCgroup(group).catch(() => {}))).then(() => {});
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

export function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function writeIfExists(path: string, value: string): void {
  if (fileExists(path)) Deno.writeTextFileSync(path, value);
}

export function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
