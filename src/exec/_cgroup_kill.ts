/** Emptying a task's group (everything the task started) and removing it. */
import { join } from "node:path";
import { groupDirs, readOrEmpty, type TaskCgroup, writeIfExists } from "./cgroup.ts";

/** The processes in the group now. */
export function cgroupPids(group: TaskCgroup): number[] {
  return readOrEmpty(join(group.path, "cgroup.procs")).split("\n").filter(Boolean).map(Number);
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
