import assert from "node:assert/strict";
import { forbiddenPath, permissionsSchema } from "./permissions.ts";

Deno.test("the root, /proc and /sys, however written, are never a read or write path", () => {
  const refused = [
    "/",
    "//",
    "/./",
    "/proc",
    "/proc/",
    "//proc",
    "/./proc/1/root",
    "/sys",
    "/sys/kernel",
    "/proc/self",
  ];
  for (const path of refused) assert.notEqual(forbiddenPath(path), null, path);
  const allowed = ["/srv/data", "/processes", "/system", "/tmp/proc", "/home/sys"];
  for (const path of allowed) assert.equal(forbiddenPath(path), null, path);
});

Deno.test("a refused path names its field and says why", () => {
  const result = permissionsSchema.safeParse({ read: ["/srv", "/proc/1/root"], write: ["/"] });
  assert.ok(!result.success);
  const issues = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  assert.deepEqual(issues, [
    'read.1: must not be under /proc: it exposes other processes and the kernel\'s settings, got "/proc/1/root"',
    'write.0: must not be "/": that grants the whole machine, got "/"',
  ]);
});
