/**
 * Task kinds are drivers behind one interface: start, then wait for the result or stop with a
 * signal and a grace period (as Nomad's drivers). The result is the protocol's tagged union.
 */
import type { Stream, TaskResult } from "../protocol/mod.ts";
import type { CgroupSupport } from "./cgroup.ts";
import type { SandboxOptions } from "./sandbox.ts";

export interface ProcessSpec {
  /** argv; the first element is looked up in PATH. */
  command: string[];
  cwd: string;
  /** The complete environment of the process: nothing is inherited. */
  env: Record<string, string>;
  timeoutMs: number | null;
  /** Time between SIGTERM and SIGKILL when the task is stopped or times out. */
  graceMs: number;
  onOutput: (stream: Stream, data: Uint8Array) => void;
  /**
   * Asked after each read of the task's output: a promise holds the next read until it settles (what
   * was read has not been delivered yet), and the task blocks on its full pipe meanwhile. Not asked
   * once the task has exited.
   */
  paceOutput?: () => Promise<void> | null;
  /** Run under bubblewrap with these mounts; absent: on the host as the agent's user. */
  sandbox?: SandboxOptions;
  /** What `detectCgroup()` found; with it every task gets its own cgroup, which ends with the task. */
  cgroup?: CgroupSupport | null;
  /** A new group under `fabric/` with this name; absent, a kept group when there is no limit to set. */
  cgroupName?: string;
  /**
   * Whether the task leads its own session and process group (through setsid). By default only
   * when nothing else can find what it starts (no cgroup, no sandbox), or this agent has a terminal.
   */
  ownSession?: boolean;
  /** Memory (and swap) limit of everything the task starts; needs `cgroup`. Over it, the result is `oom`. */
  memoryBytes?: number | null;
  /** stdout and stderr together; beyond it output is dropped after one marker, and the task runs on. */
  maxOutputBytes?: number | null;
}

export interface Finished {
  result: TaskResult;
  durationMs: number;
  /** Output went over `maxOutputBytes` and the rest was dropped. */
  outputTruncated: boolean;
}

export interface Execution {
  readonly pid: number;
  /** The task's group under `fabric/`, if it has one. */
  readonly cgroupName: string | null;
  /** Settles once everything the task started (its sandbox, cgroup or process group) is gone and its output fully read. */
  readonly finished: Promise<Finished>;
  /** SIGTERM to everything the task started, SIGKILL after the grace period; the result is `cancelled`. */
  stop(): void;
}
