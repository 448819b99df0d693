/** Creating a task's group with its limits, in each hierarchy it is to be in. */
import { join } from "node:path";
import { type CgroupSupport, fileExists, groupDirs, PARENT, readOrEmpty, type TaskCgroup } from "./cgroup.ts";
import { setMemoryLimit, setPidsLimit } from "./_cgroup_limits.ts";

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

function enableControllers(dir: string, controllers: string[]): void {
  const control = join(dir, "cgroup.subtree_control");
  const enabled = readOrEmpty(control).split(/\s+/);
  const missing = controllers.filter((controller) => !enabled.includes(controller));
  if (missing.length > 0) Deno.writeTextFileSync(control, missing.map((controller) => `+${controller}`).join(" "));
}
