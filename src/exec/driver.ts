/**
 * Task kinds are drivers behind one interface: start, then wait for the result or stop with a
 * signal and a grace period (as Nomad's drivers). The result is the protocol's tagged union.
 */
import type { Stream, TaskResult } from "../protocol/mod.ts";

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
}

export interface Finished {
  result: TaskResult;
  durationMs: number;
}

export interface Execution {
  readonly pid: number;
  /** Settles once the process group is gone and its output fully read. */
  readonly finished: Promise<Finished>;
  /** SIGTERM to the whole group, SIGKILL after the grace period; the result is `cancelled`. */
  stop(): void;
}
