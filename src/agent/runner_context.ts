/** What an attempt runs with: the agent's parts and settings that `TaskRun` and `prepare` use. */
import type { ExecRuntime } from "../exec/mod.ts";
import type { Clock } from "../protocol/mod.ts";
import type { PackCache } from "./pack_cache.ts";
import type { ArtifactClient } from "./artifacts.ts";
import type { JobVerifier } from "./job_verifier.ts";
import type { Reporter } from "./reporter.ts";
import type { RunRegistry } from "./run_registry.ts";
import type { ChannelClient } from "./channel_socket.ts";
import type { WorkDirs } from "./work_dirs.ts";

export interface RunnerContext {
  /**
   * What the agent keeps for running tasks: its data directory (never visible to a sandboxed task), its
   * task user, its cgroups and standby.
   */
  exec: ExecRuntime;
  workDirs: WorkDirs;
  agentName: string;
  reporter: Reporter;
  registry: RunRegistry;
  basePath: string;
  agentEnv: Record<string, string>;
  sandbox: boolean;
  allowUnsandboxed: boolean;
  clock: Clock;
  /** A unique id (a task's cgroup is named with one). */
  randomId: () => string;
  log: (message: string) => void;
  /** `--verify-key`: runs only what the signed job says. */
  verifier: JobVerifier | null;
  /** Where the packs of jobs' `files:` are fetched and kept; null: a task with files cannot run here. */
  packs: PackCache | null;
  /** Where tasks' artifacts are uploaded; null: none are kept. */
  artifacts: ArtifactClient | null;
  /** Where a task's channel calls go (task_channels.ts); null: a job that grants channels cannot run here. */
  channels: ChannelClient | null;
  /** Called once the task's process has started (the agent then starts one ahead for its next task). */
  processStarted?: () => void;
}
