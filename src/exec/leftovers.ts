/**
 * What a killed agent's tasks leave running. An agent records each task process it starts (pid,
 * its start time, its cgroup); after a crash it uses the record to end them, checking the start time
 * so that a reused pid is never signalled.
 */
import { identify, identifyLater } from "./process_tree.ts";
import { type CgroupSupport, namedTaskCgroup } from "./cgroup.ts";
import { killCgroup, removeTaskCgroup } from "./_cgroup_kill.ts";

export interface ProcessRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat: the process's start time in clock ticks after boot. */
  startTicks: number | null;
  cgroupName: string | null;
}

/** The start time of a live process, or null when it is gone. */
function processStartTicks(pid: number): number | null {
  const process = identify(pid);
  return process ? Number(process.startedAt) : null;
}

/** `processStartTicks` read off the calling thread (for a process just spawned, which may still be in its exec). */
export async function processStartTicksLater(pid: number): Promise<number | null> {
  const process = await identifyLater(pid);
  return process ? Number(process.startedAt) : null;
}

/** End what is left of a recorded task process: its cgroup, and its process group if it is still the same process. */
export async function killLeftovers(record: ProcessRecord, cgroup: CgroupSupport | null): Promise<boolean> {
  let killed = false;
  if (record.cgroupName && cgroup) {
    const group = namedTaskCgroup(cgroup, record.cgroupName);
    try {
      Deno.statSync(group.path);
      await killCgroup(group);
      await removeTaskCgroup(group);
      killed = true;
    } catch {
      // No such group: nothing to end there.
    }
  }
  if (record.pid > 0 && record.startTicks !== null && processStartTicks(record.pid) === record.startTicks) {
    // Its process group when it led one; else (in a cgroup or a sandbox, ended above or by its
    // sandbox's death) the process itself.
    for (const target of [-record.pid, record.pid]) {
      try {
        Deno.kill(target, "SIGKILL");
        killed = true;
        break;
      } catch {
        // Not a group leader, or gone meanwhile.
      }
    }
  }
  return killed;
}
