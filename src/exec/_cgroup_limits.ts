/** A task group's limits (memory, processes) once it has them, and whether the memory limit killed a process. */
import { join } from "node:path";
import { readOrEmpty, type TaskCgroup, writeIfExists } from "./cgroup.ts";

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

export function setMemoryLimit(group: TaskCgroup, bytes: number): void {
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

/** Whether the kernel's OOM killer killed a process of this group while the task had it. */
export function oomKilled(group: TaskCgroup): boolean {
  return oomCount(group) > (group.oomBase ?? 0);
}

export function oomCount(group: TaskCgroup): number {
  if (group.version === "v2") return counter(readOrEmpty(join(group.path, "memory.events")), "oom_kill");
  const control = readOrEmpty(join(group.path, "memory.oom_control"));
  // Kernels before 4.13 have no oom_kill counter; hitting the limit is the best sign there is.
  if (/^oom_kill /m.test(control)) return counter(control, "oom_kill");
  return Number(readOrEmpty(join(group.path, "memory.failcnt")).trim() || "0");
}

function counter(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  return match ? Number(match[1]) : 0;
}
