/**
 * What one agent keeps for running its tasks, from its start to its stop: its kept cgroups and its
 * standby, its git mirrors' key and queues, the programs its tasks started, the system's directories
 * as its sandboxes bind them, and what it found of this process (setsid, a terminal). The agent makes
 * one and closes it when it leaves; two agents in one process each have their own and share nothing.
 */
import { join } from "node:path";
import type { Clock } from "../protocol/mod.ts";
import { findExecutable, ProgramLookup, SYSTEM_PATH } from "./_path_lookup.ts";
import type { CgroupSupport } from "./cgroup.ts";
import { CgroupPool } from "./_cgroup_pool.ts";
import { GitMirrors } from "./git.ts";
import { SystemMounts } from "./sandbox.ts";
import { Standby } from "./standby.ts";
import type { TaskUser } from "./task_user.ts";
import type { LoadedAddon } from "./loaded_addon.ts";

export interface ExecRuntimeOptions {
  /** The agent's data directory: its git mirrors go under `cache/git`; a sandboxed task never sees it. */
  dataDir: string;
  /** Who tasks run as when the agent is root; null: as the agent. */
  taskUser: TaskUser | null;
  /** What `detectCgroup()` found: tasks get their groups there, and the standby waits in one. */
  cgroup: CgroupSupport | null;
  /** The deno that runs script tasks (its real path), or null. */
  deno: string | null;
  /** Git tasks may check out repositories on this machine (`--allow-local-git`). */
  allowLocalGit: boolean;
  /** When the system's directories were last looked at. */
  clock: Clock;
  /** The add-ons the agent loaded (`--addons DIR`), by `NAME@VERSION`: what its `addon` tasks run. */
  addons?: ReadonlyMap<string, LoadedAddon>;
}

export class ExecRuntime {
  readonly dataDir: string;
  readonly taskUser: TaskUser | null;
  readonly cgroup: CgroupSupport | null;
  readonly deno: string | null;
  readonly allowLocalGit: boolean;
  readonly addons: ReadonlyMap<string, LoadedAddon>;
  /** The groups of this agent's tasks, with the empty ones kept for its next task. */
  readonly cgroups = new CgroupPool();
  /** The process this agent starts ahead of its next task. */
  readonly standby: Standby;
  /** The mirrors of this agent's git tasks, in its data directory. */
  readonly gitMirrors: GitMirrors;
  /** The programs this agent's tasks started, by PATH and name. */
  readonly programs = new ProgramLookup();
  readonly systemMounts: SystemMounts;
  /** The setsid program (a task that leads its own session starts through it), or null. */
  readonly setsid: string | null;
  /**
   * Whether this process has a controlling terminal, whose Ctrl-C and hangup must reach the agent
   * (which drains) and not its tasks: each task then leads a session of its own.
   */
  readonly terminal: boolean;
  #closed = false;

  constructor(options: ExecRuntimeOptions) {
    this.dataDir = options.dataDir;
    this.taskUser = options.taskUser;
    this.cgroup = options.cgroup;
    this.deno = options.deno;
    this.allowLocalGit = options.allowLocalGit;
    this.addons = options.addons ?? new Map();
    this.standby = new Standby(this.cgroups, this.programs);
    this.gitMirrors = new GitMirrors(join(options.dataDir, "cache", "git"));
    this.systemMounts = new SystemMounts(options.clock);
    this.setsid = findExecutable("setsid", SYSTEM_PATH);
    this.terminal = hasControllingTerminal();
  }

  /**
   * Has the next task in a kept group (no memory or disk limit; sandboxed or not) start in a process
   * already in its group (see standby.ts), which loads `lang`, the locale tasks get, ahead too. Not
   * with a terminal (such tasks start through setsid, which a standby cannot do for them), without
   * cgroups, or once closed.
   */
  prepareStandby(lang: string): void {
    if (this.#closed || this.terminal || this.cgroup === null) return;
    this.standby.prepare(this.cgroup, { lang });
  }

  /** Ends the standby and removes the kept groups (the agent is leaving); a task's group released later is removed. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.standby.drop();
    await this.cgroups.close();
  }
}

function hasControllingTerminal(): boolean {
  try {
    Deno.openSync("/dev/tty", { read: true }).close();
    return true;
  } catch {
    return false;
  }
}
