/** Shared by the tests of src/exec: run a process to its end and keep what it printed. */
import { DEFAULT_PERMISSIONS, type Permissions, systemClock } from "../protocol/mod.ts";
import type { CgroupSupport } from "./cgroup.ts";
import { detectCgroup } from "./cgroup_detect.ts";
import type { Execution, Finished, ProcessSpec } from "./driver.ts";
import { startProcess } from "./process.ts";
import { ExecRuntime, type ExecRuntimeOptions } from "./runtime.ts";
import type { SandboxOptions } from "./sandbox.ts";

export const TEST_PATH = "/usr/local/bin:/usr/bin:/bin";

// Module state of a test helper, not of fabric: each test file (a module instance of its own, also under
// --parallel) is one agent here, with one cgroup detection and one runtime; a test that needs two
// agents makes its runtimes with newRuntime().
let support: Promise<CgroupSupport | null> | undefined;
let shared: ExecRuntime | undefined;

// The groups tasks of this test file left for reuse go with it, as they go with an agent that leaves (at
// once: what the kernel still holds is left to the next cleanup).
globalThis.addEventListener("unload", () => void shared?.cgroups.close());

/** detectCgroup() once per test file. */
export function cgroupSupport(): Promise<CgroupSupport | null> {
  support ??= detectCgroup();
  return support;
}

/**
 * A runtime as an agent makes one (no data directory of its own unless given, no task user): the
 * caller closes it. Tasks choose their cgroup support in their spec.
 */
export function newRuntime(options: Partial<ExecRuntimeOptions> = {}): ExecRuntime {
  return new ExecRuntime({
    dataDir: "/nonexistent/fabric-test-data",
    taskUser: null,
    cgroup: null,
    deno: null,
    allowLocalGit: false,
    clock: systemClock,
    ...options,
  });
}

/** The runtime this test file's tasks run with unless given another, as one agent's would. */
export function testRuntime(): ExecRuntime {
  shared ??= newRuntime();
  return shared;
}

export interface Ran {
  finished: Finished;
  stdout: string;
  stderr: string;
}

export type TestSpec = Partial<ProcessSpec> & { command: string[]; cwd: string };

/** Starts like the agent does (with this file's runtime unless given) and collects the output as text. */
export function start(spec: TestSpec, runtime = testRuntime()): { execution: Execution; ran: Promise<Ran> } {
  const chunks = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const execution = startProcess({
    env: { PATH: TEST_PATH, HOME: spec.cwd, LANG: "C.UTF-8" },
    timeoutMs: 10_000,
    graceMs: 500,
    onOutput: (stream, data) => chunks[stream].push(data.slice()),
    ...spec,
  }, runtime);
  const ran = execution.finished.then((finished) => ({
    finished,
    stdout: decode(chunks.stdout),
    stderr: decode(chunks.stderr),
  }));
  return { execution, ran };
}

export function run(spec: TestSpec, runtime = testRuntime()): Promise<Ran> {
  return start(spec, runtime).ran;
}

/** A bash script as a shell task gets it. */
export function bash(script: string): string[] {
  return ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script];
}

export function sandbox(
  workDir: string,
  options: Omit<Partial<SandboxOptions>, "permissions"> & { permissions?: Partial<Permissions> } = {},
): SandboxOptions {
  return {
    workDir,
    hide: options.hide ?? [],
    extraReadPaths: options.extraReadPaths,
    permissions: { ...DEFAULT_PERMISSIONS, ...options.permissions },
  };
}

/** A fresh directory for one test, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-exec-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function waitFor<T>(condition: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = condition();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** Pids among `pids` whose command line is exactly `argv`. */
export function withCommandLine(pids: number[], argv: string[]): number[] {
  return pids.filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`) === argv.join("\0") + "\0";
    } catch {
      return false;
    }
  });
}

function decode(chunks: Uint8Array[]): string {
  const decoder = new TextDecoder();
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
}
