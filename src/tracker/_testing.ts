/** What the tracker's tests share: a clock, an agent's registration and job specs. */
import { type Assignment, type Clock, systemClock, type TaskEvent } from "../protocol/mod.ts";

/**
 * The tracker's clock in a test: its time is `t`, which the test moves; its timers (the store
 * writer's, a retry's backoff) are the system's, measured from `t`.
 */
export function testClock(t = 1_000_000): Clock & { t: number } {
  return {
    ...systemClock,
    t,
    now() {
      return this.t;
    },
  };
}

/** A registration body for an agent of one slot, with every capability. */
export const TEST_AGENT = {
  labels: {},
  version: "test",
  os: "linux",
  arch: "x86_64",
  capabilities: { sandbox: true, unsandboxed: false, cgroup: "v1" as const, deno: true, git: true },
  resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
};

/** A job of `length` tasks, each needing the one before. */
export function chainSpec(length: number) {
  return {
    name: "chain",
    tasks: Array.from(
      { length },
      (_, i) => ({ name: `t${i}`, run: "true", ...(i > 0 ? { needs: [`t${i - 1}`] } : {}) }),
    ),
  };
}

/** An agent's report that `assignment` started and exited with `code` at `at`. */
export function ranEvents(assignment: Pick<Assignment, "taskId" | "attempt">, at: number, code = 0): TaskEvent[] {
  const { taskId, attempt } = assignment;
  return [
    { type: "started", taskId, attempt, at },
    { type: "finished", taskId, attempt, at, result: { kind: "exited", code }, durationMs: 1 },
  ];
}
