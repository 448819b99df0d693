/**
 * Memory and process limits and a sure kill through cgroups: each task has a group of its own under a
 * `fabric` parent in the memory hierarchy (cgroup v2 or v1) and, where the pids controller is, in the
 * pids hierarchy (the same group on v2), new or kept from an earlier task. The group knows every
 * process the task started, even one that left its session with setsid, so ending the task empties it.
 * No RLIMIT_AS: it limits address space, not memory, and Deno aborts under it. No RLIMIT_NPROC for
 * processes: it counts all processes of a user, and every task runs as the same one.
 *
 * Here: what a group is and where its files are. Creating one: _cgroup_create.ts; its limits: _cgroup_limits.ts;
 * joining it: _cgroup_join.ts; emptying and removing it: _cgroup_kill.ts; the groups kept: _cgroup_pool.ts.
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

/** The directory of fabric's groups in each hierarchy. */
export const PARENT = "fabric";

/** The group named `name` under `fabric/` (as a task's is recorded), in each hierarchy. */
export function namedTaskCgroup(support: CgroupSupport, name: string): TaskCgroup {
  const path = join(support.root, PARENT, name);
  const pidsRoot = support.pidsRoot ?? null;
  const pidsPath = pidsRoot === null ? null : support.version === "v2" ? path : join(pidsRoot, PARENT, name);
  return { version: support.version, path, pidsPath };
}

/** The group's directories: one per hierarchy it is in. */
export function groupDirs(group: TaskCgroup): string[] {
  return group.pidsPath && group.pidsPath !== group.path ? [group.path, group.pidsPath] : [group.path];
}

export function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

export function writeIfExists(path: string, value: string): void {
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
