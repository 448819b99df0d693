/**
 * Finding the cgroup hierarchies fabric can use on this machine (memory, and pids where it is), by
 * really creating a group in them, and clearing the groups an agent that was killed left there.
 */
import { join } from "node:path";
import { type CgroupSupport, fileExists, PARENT, readOrEmpty } from "./cgroup.ts";
import { createTaskCgroup } from "./_cgroup_create.ts";
import { cgroupPids, removeTaskCgroup } from "./_cgroup_kill.ts";
import { POOL_PREFIX } from "./_cgroup_pool.ts";
import { identify } from "./process_tree.ts";

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

/**
 * A pooled group whose agent still runs (it may hand the group to its next task at any moment): the
 * process its name gives by pid and start time, this one included. A name with a pid alone (an older
 * agent's) is taken as another live process's; this process's pid in it was an earlier process's.
 */
function keptByLiveProcess(name: string): boolean {
  if (!name.startsWith(POOL_PREFIX)) return false;
  const [pid, ...rest] = name.slice(POOL_PREFIX.length).split("-");
  const owner = Number(pid);
  if (!Number.isInteger(owner) || owner <= 0) return false;
  // The rest is a random UUID (five parts), after the start time in current names.
  if (rest.length === 6) return identify(owner)?.startedAt === rest[0];
  return owner !== Deno.pid && fileExists(`/proc/${owner}`);
}

/** mountinfo escapes spaces and friends as octal (\040). */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
