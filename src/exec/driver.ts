/**
 * Task kinds are drivers behind one interface (as Nomad's DriverPlugin): a driver says what it needs
 * of the agent, prepares a task (its files, a checkout, its command line) and starts it. What it
 * starts is an `Execution`: wait for the result or stop it with a signal and a grace period. The
 * result is the protocol's tagged union. The drivers are in drivers/, found by kind in its registry.
 */
import type { AssignmentOf, Stream, TaskKind, TaskResult } from "../protocol/mod.ts";
import type { CgroupSupport } from "./cgroup.ts";
import type { ExecRuntime } from "./runtime.ts";
import type { SandboxOptions } from "./sandbox.ts";
import type { TaskUser } from "./task_user.ts";

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
  /**
   * Who runs the task's program (task_user.ts), when not the agent's own user: the agent joins the
   * task's cgroups, sets its limits and builds its sandbox first, as itself.
   */
  user?: TaskUser | null;
  /** Most processes and threads at once (a pids cgroup, where `cgroup` has one); null: no limit. */
  pids?: number | null;
  /** The directory's limit: over it the task is killed and its result is `disk` (see disk_watch.ts). */
  disk?: { dir: string; bytes: number } | null;
  /** The environment holds secrets: it must reach the task as its environment only, never a command line. */
  secretEnv?: boolean;
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

/** One attempt's directories, made empty for it. */
export interface TaskDirs {
  /** The task's own directory, writable, its HOME and (by default) where it starts. */
  workDir: string;
  /** fabric's files for the task: its output file, its needs, a script. */
  metaDir: string;
  /** Scratch space of a task outside the sandbox (a sandboxed one has a private /tmp). */
  tmpDir: string;
}

export interface TaskContext {
  /**
   * What the agent offers every driver: its data directory (what outlives a task goes under `cache/`
   * in it), its deno for scripts, its git mirrors, whether git may check out local repositories.
   */
  host: ExecRuntime;
  dirs: TaskDirs;
  /** Whether the task runs in the sandbox, where /tmp is its own. */
  sandboxed: boolean;
  /** The task's environment as the agent made it; a driver adds to it through `Launch.env`. */
  env: Readonly<Record<string, string>>;
  /** A line on the task's stderr, marked as fabric's. */
  say(line: string): void;
  /** performance.now() instant at which the task times out (its preparation included), or null. */
  deadline: number | null;
  /** Aborted when the task is cancelled, handed back or no longer its agent's: preparing it stops. */
  signal: AbortSignal;
}

/**
 * What a driver's `prepare` throws when the task's deadline or signal stopped it: the task ends
 * `timed_out` or `cancelled`, as its process would have. Its message is what stopped (the cause's).
 */
export class TaskStopped extends Error {
  readonly why: "timed_out" | "cancelled";

  constructor(why: "timed_out" | "cancelled", cause: Error) {
    super(cause.message, { cause });
    this.why = why;
  }
}

/** How to start a prepared task. */
export interface Launch {
  command: string[];
  /** Where it starts (inside its directory); the directory itself by default. */
  cwd?: string;
  /** Variables added to the task's environment. */
  env?: Record<string, string>;
  /** Paths it needs readable inside the sandbox, even where the agent's data directory is hidden. */
  readPaths?: string[];
}

export interface TaskDriver<K extends TaskKind = TaskKind> {
  readonly kind: K;
  /** Everything before the task's process: files, a checkout, the command line. Throws to fail its start. */
  prepare(task: AssignmentOf<K>, context: TaskContext): Promise<Launch>;
  /**
   * Starts the process the agent built from the `Launch` (sandbox, cgroup, limits, output), with what
   * the agent's `runtime` keeps (its kept groups, its standby).
   */
  start(spec: ProcessSpec, runtime: ExecRuntime): Execution;
}
