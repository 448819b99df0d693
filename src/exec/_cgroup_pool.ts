/** The groups an agent keeps between its tasks. */
import { join } from "node:path";
import { identify } from "./process_tree.ts";
import { type CgroupSupport, fileExists, groupDirs, type TaskCgroup } from "./cgroup.ts";
import { createTaskCgroup } from "./_cgroup_create.ts";
import { oomCount, setPidsLimit } from "./_cgroup_limits.ts";
import { killCgroup, removeTaskCgroup } from "./_cgroup_kill.ts";

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
