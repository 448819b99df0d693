/**
 * A tracker in a memory-limited cgroup (a container, a systemd unit with MemoryMax) whose JavaScript heap
 * may outgrow the limit: V8 sizes its heap from the machine's memory, not the cgroup's (measured: 4,192 MB
 * inside a cgroup of 1 GB), and lets garbage pile up to that size while a large job runs (a million-task
 * drain: 2.3-2.8 GB of RSS, 1.25 GB with the heap capped at 1.2 GB). The kernel would then kill it for
 * garbage it could have collected. Said once at the start, with the setting that prevents it
 * (docs/operating.md#memory).
 */
import { getHeapStatistics } from "node:v8";

/** What besides the heap a tracker's process holds (its code, buffers, TLS, SQLite): a margin under the limit. */
const OUTSIDE_HEAP_BYTES = 256 * 1024 * 1024;
/** Deeper cgroup paths than this are not walked (a real one is a few levels). */
const MAX_DEPTH = 64;
/** cgroup v1 says "no limit" with a number near 2^63. */
const V1_UNLIMITED = 2 ** 62;

type ReadText = (path: string) => string | null;

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/**
 * The memory limit this process's cgroup and its ancestors set (the least of them), in bytes; null when
 * none does or none can be read. `/proc/self/cgroup` names the cgroup, under the usual mounts:
 * /sys/fs/cgroup (cgroup v2, `memory.max`) or /sys/fs/cgroup/memory (v1, `memory.limit_in_bytes`).
 */
export function cgroupMemoryLimit(read: ReadText = readText): number | null {
  const self = read("/proc/self/cgroup");
  if (self === null) return null;
  let least: number | null = null;
  for (const line of self.split("\n")) {
    // "ID:CONTROLLERS:PATH" (v2: "0::PATH"); a path may hold colons itself.
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (!path.startsWith("/")) continue;
    const v2 = controllers === "";
    if (!v2 && !controllers.split(",").includes("memory")) continue;
    const base = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    const file = v2 ? "memory.max" : "memory.limit_in_bytes";
    const parts = path.split("/").filter((part) => part !== "" && part !== "." && part !== "..");
    for (let depth = Math.min(parts.length, MAX_DEPTH); depth >= 0; depth--) {
      const dir = [base, ...parts.slice(0, depth)].join("/");
      const text = read(`${dir}/${file}`)?.trim();
      if (!text || !/^\d+$/.test(text)) continue; // "max", absent, unreadable
      const bytes = Number(text);
      if (bytes >= V1_UNLIMITED) continue;
      least = least === null ? bytes : Math.min(least, bytes);
    }
  }
  return least;
}

/** The warning for a heap that may outgrow the cgroup's limit, or null when it fits (or there is no limit). */
export function heapLimitWarning(limitBytes: number | null, heapLimitBytes: number): string | null {
  if (limitBytes === null || heapLimitBytes + OUTSIDE_HEAP_BYTES <= limitBytes) return null;
  const mb = (bytes: number) => Math.floor(bytes / (1024 * 1024));
  const suggested = Math.max(64, Math.floor(mb(limitBytes) * 0.75));
  return `memory: this tracker's cgroup allows it ${mb(limitBytes)} MB, but its JavaScript heap may grow to ` +
    `${mb(heapLimitBytes)} MB (V8 sizes it from the machine) and be killed for garbage while a large job runs: ` +
    `start it with DENO_V8_FLAGS=--max-old-space-size=${suggested} (docs/operating.md, "Memory")`;
}

/** This process's warning, if any (the tracker logs it once at its start). */
export function trackerMemoryWarning(): string | null {
  return heapLimitWarning(cgroupMemoryLimit(), getHeapStatistics().heap_size_limit);
}
