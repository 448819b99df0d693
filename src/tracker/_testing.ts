/** What the tracker's tests share: an agent's registration and job specs. */

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
