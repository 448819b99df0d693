/**
 * A process started ahead of the next task, already in a kept cgroup, that becomes the task. Moving a
 * process into a cgroup waits for an RCU grace period when nothing has moved between cgroups for a
 * while: about 12 ms on a quiet machine here (cgroup v1; measured), more than the task it starts. A
 * standby pays that while the agent is idle. It is a bash that joins its group, reads the task's
 * directory, environment and argv (NUL-separated, from a file in /dev/shm or from its stdin) and
 * execs `env -i` with them (or, for a bash task, exports them and execs it): the task then has
 * exactly the environment, pid, pipes and group it would have had spawned directly. A sandboxed task's
 * argv is its bwrap's.
 *
 * A standby for the task user's tasks on the host switches to that user ahead too: the root bash
 * opens its file and joins its group, then execs setpriv, which execs the bash that waits, undumpable
 * (see `standbySwitch`): the task then costs one program start, its own, and is exactly as a direct
 * start through setpriv would have made it. While it waits, another task of that user cannot ptrace
 * it, read or write its memory or open its files through /proc (its file and pipes are root's and
 * were opened before the switch); it can signal it, as it can the task once started. A standby of
 * the agent's own user takes such a task through setpriv at task time.
 */
import { join } from "node:path";
import type { ProgramLookup } from "./_path_lookup.ts";
import type { CgroupSupport, TaskCgroup } from "./cgroup.ts";
import { setPidsLimit } from "./_cgroup_limits.ts";
import type { CgroupPool } from "./_cgroup_pool.ts";
import { dropPrivileges, standbySwitch, type TaskUser } from "./task_user.ts";
import { SYSTEM_PATH } from "./_path_lookup.ts";
import { SCRIPT, SWITCH_SCRIPT, WAIT } from "./_standby_script.ts";
import { closeInbox, createInbox, holds, INBOX_DIR, removeInbox } from "./_standby_inbox.ts";
import { exportable, type HostTask, launch, launchable, MAX_INBOX_CHARS, MAX_PIPE_CHARS } from "./_standby_handover.ts";
import { fileId, type StandbyProcess, type TakenStandby } from "./_standby_process.ts";

export { INBOX_PREFIX } from "./_standby_inbox.ts";
export type { HostTask } from "./_standby_handover.ts";
export type { TakenStandby } from "./_standby_process.ts";

/** A task user's standby that exits this many times before it was seen switched: none are made any more. */
const MAX_SWITCH_FAILURES = 3;

/** One agent's standby: at most one process at a time, in a group of that agent's pool. */
export class Standby {
  #current: StandbyProcess | null = null;
  /** The release of the group of the last standby that exited without a task. */
  #releasing: Promise<void> = Promise.resolve();
  #pool: CgroupPool;
  #programs: ProgramLookup;
  /** Who the last task offered to a standby ran as: the next standby waits as that user. */
  #wanted: TaskUser | null = null;
  /** Whether a task user's standby was seen switched and undumpable, as the kernel here makes it. */
  #switchSeen = false;
  #switchFailures = 0;

  constructor(pool: CgroupPool, programs: ProgramLookup) {
    this.#pool = pool;
    this.#programs = programs;
  }

  /**
   * Starts a standby for the next task that runs in a kept group, waiting as the user the last task
   * offered ran as; nothing when there is one of that user, or when bash, env or a group cannot be
   * had. One of the other user is dropped. Its task comes in a file in `inboxDir` or, where none can
   * be made, on its stdin; `lang` is the LANG tasks usually get.
   */
  prepare(
    support: CgroupSupport,
    { lang = "", inboxDir = INBOX_DIR }: { lang?: string; inboxDir?: string } = {},
  ): void {
    const bash = this.#programs.find("bash", SYSTEM_PATH);
    const env = this.#programs.find("env", SYSTEM_PATH);
    if (bash === null || env === null) return;
    const waitAs = this.#switchFailures < MAX_SWITCH_FAILURES ? this.#wanted : null;
    const current = this.#current;
    if (current && !current.exited) {
      if (sameUser(current.user, waitAs)) return;
      this.#dropCurrent();
    }
    const pool = this.#pool;
    let group: TaskCgroup;
    try {
      group = pool.acquire(support, { memoryBytes: null });
    } catch {
      return;
    }
    const inbox = createInbox(inboxDir);
    let inboxFile: Deno.FsFile | null = null;
    let shell = bash;
    let child: Deno.ChildProcess;
    const procs = [
      join(group.path, "cgroup.procs"),
      env,
      inbox ?? "",
      lang,
      group.pidsPath && group.pidsPath !== group.path ? join(group.pidsPath, "cgroup.procs") : "",
    ];
    try {
      if (inbox && waitAs) inboxFile = Deno.openSync(inbox, { write: true });
      // As /proc/PID/exe names it, to tell the bash that waits from the setpriv before it.
      shell = Deno.realPathSync(bash);
      const sh = waitAs ? this.#programs.find("sh", SYSTEM_PATH) : null;
      const [program, ...args] = waitAs
        ? [
          sh ?? bash,
          ...(sh ? [] : ["--noprofile", "--norc"]),
          "-c",
          SWITCH_SCRIPT,
          ...procs,
          WAIT,
          ...standbySwitch(waitAs),
          bash,
          "--noprofile",
          "--norc",
          "-c",
        ]
        : [bash, "--noprofile", "--norc", "-c", SCRIPT, ...procs];
      child = new Deno.Command(program, {
        args,
        // Not in any task's or agent's directory: nothing that looks for a task's leftovers finds it.
        cwd: "/",
        clearEnv: true,
        env: { PATH: SYSTEM_PATH },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch {
      inboxFile?.close();
      if (inbox) removeInbox(inbox);
      pool.release(group).catch(() => {});
      return;
    }
    const standby: StandbyProcess = {
      child,
      group,
      support,
      user: waitAs,
      inbox,
      inboxFile,
      bash: fileId(bash),
      shell,
      holding: false,
      switched: false,
      taken: false,
      dropped: false,
      exited: false,
      watchTimer: undefined,
      ended: Promise.resolve(),
    };
    this.#current = standby;
    standby.ended = child.status.then(async (status) => {
      standby.exited = true;
      clearTimeout(standby.watchTimer);
      if (standby.taken) return; // handed to a task, which owns it now
      if (this.#current === standby) this.#current = null;
      // Exited by itself before it waited as the user: setpriv or bash failed (one killed says nothing).
      if (standby.user && !standby.switched && !standby.dropped && status.signal === null) this.#switchFailures++;
      closeInbox(standby);
      child.stdout.cancel().catch(() => {});
      child.stderr.cancel().catch(() => {});
      this.#releasing = Promise.all([this.#releasing, pool.release(group).catch(() => {})]).then(() => {});
      await this.#releasing;
    });
    if (waitAs) this.#watch(standby);
  }

  /**
   * Hands the task to the standby, if there is one for this cgroup support and the task's user, alive,
   * and the task can be handed over; null otherwise (the task starts directly). It may still be
   * starting or joining its group (the kernel's wait for that, ~10 ms after a quiet spell or under
   * load, is one a direct start pays too): it runs the task once it is there, and a join that fails
   * fails the task as a direct start's would. A busy agent may have no standby: nothing of the task
   * is looked at then, but who it runs as, which the next standby is made for.
   */
  launch(support: CgroupSupport, task: HostTask): TakenStandby | null {
    const user = task.user ?? null;
    this.#wanted = user;
    const standby = this.#current;
    if (!standby || standby.exited || standby.support.root !== support.root) return null;
    // The task user's standby takes only that user's tasks; the agent's takes them through setpriv.
    if (standby.user && !sameUser(standby.user, user)) return null;
    const argv = user && !standby.user ? [...dropPrivileges(user), ...task.argv] : task.argv;
    // A program by name is looked up in the task's PATH by the standby's exec, as setpriv would.
    const byName = standby.user !== null && task.env.PATH !== undefined;
    if (
      !this.#ready(standby) ||
      !launchable({ ...task, argv }, standby.holding ? MAX_INBOX_CHARS : MAX_PIPE_CHARS, byName)
    ) return null;
    const mode = exportable(standby, task) ? "export" : "env";
    if (mode === "env" && task.secretEnv) return null;
    try {
      setPidsLimit(standby.group, task.pids ?? null);
    } catch {
      return null; // the group is not as it should be: the task starts directly, in a group of its own
    }
    this.#current = null;
    standby.taken = true;
    launch(standby, { ...task, argv }, mode);
    return { child: standby.child, group: standby.group };
  }

  /** Ends the standby, if any (the agent is leaving); resolves once it is gone and its group back in the pool. */
  async drop(): Promise<void> {
    const standby = this.#current;
    this.#dropCurrent();
    await standby?.ended;
    await this.#releasing;
  }

  /** The standby's pid, and whether a task would be handed to it now (null: there is none). */
  state(): { pid: number; ready: boolean; user: TaskUser | null } | null {
    const standby = this.#current;
    if (!standby || standby.exited) return null;
    return { pid: standby.child.pid, ready: this.#ready(standby), user: standby.user };
  }

  #dropCurrent(): void {
    const standby = this.#current;
    this.#current = null;
    if (standby) standby.dropped = true;
    // Without its task on stdin it exits by itself; the exit handler releases the group.
    if (standby && !standby.exited) standby.child.stdin.close().catch(() => standby.child.kill("SIGKILL"));
  }

  /**
   * Whether it may be handed a task: the agent's always; a task user's once switched, or on its way
   * there once one was seen to (the join, setpriv and bash's exec are what is left, each of which a
   * direct start pays too). Notes whether it holds its file yet.
   */
  #ready(standby: StandbyProcess): boolean {
    standby.holding ||= standby.inbox !== null && holds(standby.child.pid, standby.inbox);
    if (!standby.user) return true;
    if (!standby.switched && waitsSwitched(standby.child.pid, standby.user, standby.shell)) {
      standby.switched = true;
      this.#switchSeen = true;
    }
    if (standby.holding && standby.inbox && standby.inboxFile) {
      // It has its file open: the name is no longer needed, and would outlive an agent killed with -9.
      removeInbox(standby.inbox);
      standby.inbox = null;
    }
    return standby.switched || this.#switchSeen;
  }

  /**
   * Looks at a task user's standby until it holds its file and is switched (a few ms), so that its file's name
   * goes at once and a failed switch is noticed before a task is handed to it. Bounded.
   */
  #watch(standby: StandbyProcess): void {
    let attempt = 0;
    const look = () => {
      if (standby.exited || standby.taken) return;
      this.#ready(standby);
      if ((standby.switched && standby.inbox === null) || ++attempt > 12) return;
      standby.watchTimer = setTimeout(look, Math.min(2 ** attempt, 200));
    };
    standby.watchTimer = setTimeout(look, 1);
  }
}

function sameUser(a: TaskUser | null, b: TaskUser | null): boolean {
  return a === b || (a !== null && b !== null && a.uid === b.uid && a.gid === b.gid);
}

/**
 * Whether the process waits in `shell` as `user` alone (real, effective and saved uid and gid: its
 * bash has set its group ids back, see `standbySwitch`), undumpable (its /proc/PID/environ is then
 * root's): what a task user's standby must be before it is trusted with a task.
 */
function waitsSwitched(pid: number, user: TaskUser, shell: string): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const ids = (name: string) => status.match(new RegExp(`^${name}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`, "m"))?.slice(1);
    return ids("Uid")?.every((uid) => Number(uid) === user.uid) === true &&
      ids("Gid")?.every((gid) => Number(gid) === user.gid) === true &&
      Deno.statSync(`/proc/${pid}/environ`).uid === 0 && Deno.readLinkSync(`/proc/${pid}/exe`) === shell;
  } catch {
    return false;
  }
}
