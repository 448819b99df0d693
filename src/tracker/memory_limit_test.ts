/** The cgroup's memory limit as /proc and /sys show it, and the warning for a heap that may outgrow it. */
import assert from "node:assert/strict";
import { cgroupMemoryLimit, heapLimitWarning } from "./memory_limit.ts";

const MB = 1024 * 1024;

/** Files as a map: what /proc/self/cgroup and the cgroup mounts would hold (any other path is absent). */
function files(entries: Record<string, string>): (path: string) => string | null {
  return (path) => entries[path] ?? null;
}

Deno.test("cgroup v2: the least limit of the group and its ancestors; `max` is none", () => {
  const read = files({
    "/proc/self/cgroup": "0::/system.slice/fabric.service\n",
    "/sys/fs/cgroup/memory.max": "max\n",
    "/sys/fs/cgroup/system.slice/memory.max": `${4096 * MB}\n`,
    "/sys/fs/cgroup/system.slice/fabric.service/memory.max": `${2048 * MB}\n`,
  });
  assert.equal(cgroupMemoryLimit(read), 2048 * MB);
  const parentLess = files({
    "/proc/self/cgroup": "0::/system.slice/fabric.service\n",
    "/sys/fs/cgroup/system.slice/memory.max": `${512 * MB}\n`,
    "/sys/fs/cgroup/system.slice/fabric.service/memory.max": "max\n",
  });
  assert.equal(cgroupMemoryLimit(parentLess), 512 * MB, "a parent's limit binds its children");
  assert.equal(cgroupMemoryLimit(files({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max" })), null);
});

Deno.test("cgroup v1: the memory hierarchy's line (controllers listed together too); its 'unlimited' is none", () => {
  const read = files({
    "/proc/self/cgroup": "12:pids:/user.slice\n9:cpuset:/\n4:memory,hugetlb:/docker/abc:with:colons\n",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
    "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes": "9223372036854771712\n",
    "/sys/fs/cgroup/memory/docker/abc:with:colons/memory.limit_in_bytes": `${1024 * MB}\n`,
  });
  assert.equal(cgroupMemoryLimit(read), 1024 * MB);
  // Inside a container without a cgroup namespace: its own path is not under the mount, the mount's root is it.
  const container = files({
    "/proc/self/cgroup": "4:memory:/docker/abc\n",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes": `${768 * MB}\n`,
  });
  assert.equal(cgroupMemoryLimit(container), 768 * MB);
});

Deno.test("no limit when nothing can be read, and no path is walked outside the mount", () => {
  assert.equal(cgroupMemoryLimit(files({})), null);
  const read = files({
    "/proc/self/cgroup": "0::/../../etc\ngarbage\n1:name=systemd:relative\n",
    "/sys/fs/cgroup/etc/memory.max": `${1 * MB}\n`,
  });
  assert.equal(cgroupMemoryLimit(read), 1 * MB, "`..` is dropped: the walk stays under /sys/fs/cgroup");
  assert.equal(
    cgroupMemoryLimit(files({ "/proc/self/cgroup": "0::/a\n", "/sys/fs/cgroup/a/memory.max": "lots\n" })),
    null,
  );
});

Deno.test("the warning: only when the heap's limit and the rest of the process exceed the cgroup's, with a setting that fits", () => {
  assert.equal(heapLimitWarning(null, 4192 * MB), null);
  assert.equal(heapLimitWarning(8192 * MB, 4192 * MB), null);
  assert.equal(heapLimitWarning(1296 * MB + 256 * MB, 1296 * MB), null, "exactly enough fits");
  const warning = heapLimitWarning(1024 * MB, 4192 * MB);
  assert.match(warning ?? "", /cgroup allows it 1024 MB, but its JavaScript heap may grow to 4192 MB/);
  assert.match(warning ?? "", /DENO_V8_FLAGS=--max-old-space-size=768 /);
  assert.match(heapLimitWarning(32 * MB, 4192 * MB) ?? "", /--max-old-space-size=64 /, "never below 64 MB");
});
