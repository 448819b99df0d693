/** Shared by the drivers' tests: an assignment's fields every kind has, and a task's context in a folder. */
import { join } from "node:path";
import { DEFAULT_PERMISSIONS } from "../../protocol/mod.ts";
import { newRuntime, TEST_PATH } from "../_testing.ts";
import type { TaskContext } from "../driver.ts";

/** The fields of an assignment that are not its kind's: a one-task job, sandboxed, without limits. */
export const ASSIGNMENT_BASE = {
  taskId: "j.1",
  attempt: 1,
  jobId: "j",
  jobName: "j",
  name: "t",
  index: 0,
  count: 1,
  matrix: null,
  env: {},
  permissions: DEFAULT_PERMISSIONS,
  sandbox: true,
  timeoutMs: null,
  graceMs: 1000,
  memoryBytes: null,
  diskBytes: null,
  pids: 1024,
  maxOutputBytes: 1 << 20,
  needs: {},
  signed: null,
};

/** A task's context with `dir` as its directory (its meta folder made), sandboxed unless `over` says. */
export function taskContext(dir: string, over: Partial<TaskContext> = {}): TaskContext {
  const dirs = { workDir: dir, metaDir: join(dir, ".fabric"), tmpDir: join(dir, "tmp") };
  Deno.mkdirSync(dirs.metaDir, { recursive: true });
  return {
    host: newRuntime({ dataDir: "/nonexistent/data" }),
    dirs,
    sandboxed: true,
    env: { PATH: TEST_PATH, HOME: dir },
    say: () => {},
    deadline: null,
    signal: new AbortController().signal,
    ...over,
  };
}
