/** What the agent keeps of one standby process (standby.ts), and how it tells the bash it runs. */
import type { CgroupSupport, TaskCgroup } from "./cgroup.ts";
import type { TaskUser } from "./task_user.ts";

/** A standby handed to a task: the task's process from now on, in the task's group. */
export interface TakenStandby {
  child: Deno.ChildProcess;
  group: TaskCgroup;
}

/** A standby as its `Standby` keeps it, from its start until a task takes it or it exits. */
export interface StandbyProcess extends TakenStandby {
  support: CgroupSupport;
  /** Who it waits as: the task user (switched ahead), or null: the agent's user. */
  user: TaskUser | null;
  /** The file its task comes in, until it is written; null: the task comes on stdin. */
  inbox: string | null;
  /**
   * The task user's standby's file, open for writing: its name is removed once the standby has it
   * open (the standby cannot remove it itself), and the task is written here.
   */
  inboxFile: Deno.FsFile | null;
  /** The standby's bash, as a file: a task that runs it can be exec'd without env -i. */
  bash: FileId | null;
  /** Its bash's path, which the task user's standby waits in once switched. */
  shell: string;
  /** Seen holding its file open: its task goes there (else on its stdin). */
  holding: boolean;
  /** Seen waiting as the task user, undumpable. */
  switched: boolean;
  taken: boolean;
  /** Dropped by the agent (it exits without a task, and that says nothing of its switch). */
  dropped: boolean;
  exited: boolean;
  /** The next look of `Standby.#watch`, if one is due. */
  watchTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles once it has exited and, if it had no task, its group is back in the pool. */
  ended: Promise<void>;
}

/** A file as the kernel knows it: the same program whatever path names it. */
export interface FileId {
  dev: number;
  ino: number;
}

export function fileId(path: string): FileId | null {
  try {
    const { dev, ino } = Deno.statSync(path);
    return ino === null ? null : { dev, ino };
  } catch {
    return null;
  }
}
