/**
 * A task's disk limit (`resources.disk`): how much its directory holds, looked at while it runs. The
 * filesystem has no quota fabric can count on (project quotas need a mount option, a loop device per
 * task costs a filesystem per task), so two things together: RLIMIT_FSIZE (set as the task starts,
 * see _cgroup_join.ts's joinCgroupCommand) stops any one file at the limit at once, and this watch measures
 * the whole directory every so often (sooner as it fills) and ends the task past its limit.
 *
 * The measure is `du`'s: it walks the tree without following links, stays on one filesystem, only
 * looks (stat, never open), counts hard links once and blocks actually used, in a process of its own
 * (a tree of a million entries costs the agent's event loop nothing) and within a time bound.
 */
import { findExecutable, SYSTEM_PATH } from "./_path_lookup.ts";

/** Between two looks while the directory holds less than half its limit; a quarter of it above. */
const CALM_MS = 1000;
const CLOSE_MS = 250;
/**
 * A walk that takes longer than this is stopped, and the directory counts as over its limit: a
 * task must not escape the limit by making its tree too large to measure (ext4 walks ~1M entries in
 * a few seconds).
 */
const WALK_LIMIT_MS = 30_000;

export interface DiskWatch {
  /** Stops looking (the task has ended). */
  stop(): void;
}

/** What `dir` holds, in bytes of blocks used; Infinity when it cannot be measured in time; null without du. */
export async function diskUsage(dir: string, timeoutMs = WALK_LIMIT_MS): Promise<number | null> {
  const du = findExecutable("du", SYSTEM_PATH);
  if (du === null) return null;
  // -k and -x are POSIX; a partly unreadable tree still gets its total (exit 1), which is what counts.
  const child = new Deno.Command(du, {
    args: ["-s", "-k", "-x", "--", dir],
    clearEnv: true,
    env: { PATH: SYSTEM_PATH, LC_ALL: "C" },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  try {
    const { stdout, signal } = await child.output();
    if (signal !== null) return Infinity;
    const kib = Number(new TextDecoder().decode(stdout).split("\t")[0]);
    return Number.isFinite(kib) ? kib * 1024 : Infinity;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether this agent can measure directories (it has du). */
export function canWatchDisk(): boolean {
  return findExecutable("du", SYSTEM_PATH) !== null;
}

/**
 * Looks at `dir` until stopped, and calls `over` (once) when it holds more than `limitBytes`. The first
 * look comes soon: a task can write a lot in its first second.
 */
export function watchDisk(dir: string, limitBytes: number, over: () => void): DiskWatch {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const look = async () => {
    const used = await diskUsage(dir);
    if (stopped) return;
    if (used !== null && used > limitBytes) {
      stopped = true;
      over();
      return;
    }
    timer = setTimeout(look, used !== null && used * 2 < limitBytes ? CALM_MS : CLOSE_MS);
  };
  timer = setTimeout(look, CLOSE_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
