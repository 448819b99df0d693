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
import { type CgroupPool, type CgroupSupport, setPidsLimit, type TaskCgroup } from "./cgroup.ts";
import { dropPrivileges, standbySwitch, type TaskUser } from "./task_user.ts";
import { SYSTEM_PATH } from "./_path_lookup.ts";

// $0: the group's cgroup.procs, $1: env, $2: the file the task comes in, opened first ("": the task
// comes on stdin; a standby handed its task before it opened its file gets it on stdin too, and its
// file is gone by then, which is no error). $4: the group's cgroup.procs in the pids hierarchy (cgroup v1; "": none or the
// same), joined first. A join that fails ends it as a direct start's would (a task handed to it fails
// to start, saying why). Run as root.
const JOIN = `if [[ $2 ]]; then { exec 3<"$2"; } 2>/dev/null; fi
{ if [[ $4 ]]; then echo $$ > "$4"; fi && echo $$ > "$0"; } 2>/dev/null ||
  { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }
`;
// The same $0-$3, then waits for its task, in its group (and switched). A byte on stdin says where the
// task is: "p" on stdin after it, any other in the file. A file is read in large reads; a pipe a byte
// at a time (bash cannot put back what it read past a delimiter). Without a task (the agent dropped the
// standby, or died) the read fails and it exits, removing its file if it may (an agent killed with -9
// cannot: in /dev/shm they would pile up; the task user's standby may not, and the agent removes its
// file's name once it has it open). $3: the locale tasks usually have, loaded while it waits (~0.2
// ms): exporting that LANG again for a task is then ~5 us.
const WAIT = `if [[ $3 ]]; then { LANG=$3; } 2>/dev/null; fi
if [[ $2 ]]; then IFS= read -r -N 1 go || { rm -f -- "$2" 2>/dev/null; exit 125; }
  if [[ $go == p ]]; then mapfile -d '' -t f; else mapfile -d '' -t f <&3 || exit 125; fi; exec 3<&-
else mapfile -d '' -t f; fi
count=\${f[2]}; vars=("\${f[@]:3:count}"); args=("\${f[@]:3+count}")
(( \${#args[@]} )) || exit 125
cd -- "\${f[1]}" || exit 125
if [[ \${f[0]} == export ]]; then
  unset PATH PWD OLDPWD
  for v in "\${vars[@]}"; do export "$v" || exit 125; done 2>/dev/null
  exec </dev/null "\${args[@]}"
fi
exec </dev/null "$1" -i -- "\${vars[@]}" "\${args[@]}"`;
/** The agent's standby: joins, then waits as it is. */
const SCRIPT = JOIN + WAIT;
// The task user's, in sh (dash starts in about half a bash's time; measured under load, 15-20 ms
// against 25): the same join as root, then $5 is WAIT and $6... the switch (setpriv ... -- bash
// --noprofile --norc -c), which runs it with the same $0-$3 and no $4. (`command exec`: a file that
// is gone is no error that ends sh.)
const SWITCH_SCRIPT = `if [ -n "$2" ]; then { command exec 3<"$2"; } 2>/dev/null; fi
{ if [ -n "$4" ]; then echo $$ > "$4"; fi && echo $$ > "$0"; } 2>/dev/null ||
  { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }
p=$0 e=$1 i=$2 l=$3 w=$5; shift 5; exec "$@" "$w" "$p" "$e" "$i" "$l"`;

/** Where a standby's task comes in a file: memory, so that nothing of a task's environment is written to disk. */
const INBOX_DIR = "/dev/shm";
/**
 * The largest task, in characters, handed over in a file: even at 3 bytes each, under what exec
 * takes in one argument (128 KiB), which a direct start would refuse with a clearer error.
 */
const MAX_INBOX_CHARS = 32 * 1024;
/**
 * The largest handed over on the pipe, read a byte at a time (~0.4 us each: 8 KiB ~3 ms, about what
 * the standby saves).
 */
const MAX_PIPE_CHARS = 8 * 1024;
/** The byte on stdin that says the task is in the standby's file (a constant: never written to). */
const GO = new Uint8Array([10]);
/** The byte on stdin that says the task follows on stdin. */
const ON_STDIN = "p";
/** How a standby's file is named (the rest is random). */
export const INBOX_PREFIX = "fabric-standby-";

/** A standby handed to a task: the task's process from now on, in the task's group. */
export interface TakenStandby {
  child: Deno.ChildProcess;
  group: TaskCgroup;
}

interface StandbyProcess extends TakenStandby {
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

interface FileId {
  dev: number;
  ino: number;
}

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

export interface HostTask {
  cwd: string;
  env: Record<string, string>;
  argv: string[];
  /**
   * Who runs it, when not the agent's user: the task user's standby execs it as it is, the agent's
   * through setpriv. By name (`argv[0]` with no "/") it is looked up in its PATH as that user.
   */
  user?: TaskUser | null;
  /** Its process limit, set on the standby's group before the task is handed over. */
  pids?: number | null;
  /**
   * The program the task finally is, when `argv` is first a sandbox (`bwrap ... -- setpriv ... --
   * PROGRAM`): neither changes the environment, so whether the standby may export it and exec is
   * decided by that program. By default `argv[0]`.
   */
  program?: string;
  /**
   * The environment holds secrets. Only a standby that exports it and execs the task may take it:
   * one that execs `env -i NAME=value ... PROGRAM` shows every value in env's /proc/PID/cmdline until
   * env execs the program (a process polling it caught a value in 16 launches of 20).
   */
  secretEnv?: boolean;
}

/**
 * Gives the standby its task: how to exec it, its directory, its whole environment, its argv (argv[0]
 * a path, or for the task user's standby a name). In its file, then a byte on stdin that says it is
 * there; to one that does not hold its file yet, a byte that says it follows on stdin, then the task;
 * or all on stdin, where it has no file. Its file's name goes either way.
 */
function launch(standby: StandbyProcess, task: HostTask, mode: "export" | "env"): void {
  const vars = Object.entries(task.env).map(([name, value]) => `${name}=${value}`);
  const fields = [mode, task.cwd, String(vars.length), ...vars, ...task.argv];
  const encoded = new TextEncoder().encode(fields.map((field) => `${field}\0`).join(""));
  let message = encoded;
  if (standby.holding) {
    try {
      if (standby.inboxFile) writeAll(standby.inboxFile, encoded);
      else Deno.writeFileSync(standby.inbox!, encoded);
      message = GO;
    } catch {
      message = new Uint8Array(); // the standby reads nothing and exits: the task fails to start
    }
  } else if (standby.inbox || standby.inboxFile) {
    message = new TextEncoder().encode(ON_STDIN + fields.map((field) => `${field}\0`).join(""));
  }
  // The standby has it open, or never will: the task's environment stays nowhere else once it has read it.
  closeInbox(standby);
  const writer = standby.child.stdin.getWriter();
  // Settles when the standby has read it all; a standby that died meanwhile shows in the task's status.
  writer.write(message).then(() => writer.close()).catch(() => {});
}

function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  // Bounded: each write takes at least a byte, or throws.
  for (let done = 0; done < data.byteLength;) {
    const wrote = file.writeSync(data.subarray(done));
    if (wrote <= 0) throw new Error("the standby's file takes no more");
    done += wrote;
  }
}

/** Removes the standby's file's name, if it still has one, and closes the agent's end of it. */
function closeInbox(standby: StandbyProcess): void {
  if (standby.inbox) removeInbox(standby.inbox);
  standby.inbox = null;
  try {
    standby.inboxFile?.close();
  } catch {
    // closed already
  }
  standby.inboxFile = null;
}

/** A new, empty file for a standby's task (only its owner may read it); null where there is no such place. */
function createInbox(dir: string): string | null {
  try {
    return Deno.makeTempFileSync({ dir, prefix: INBOX_PREFIX });
  } catch {
    return null;
  }
}

function removeInbox(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}

/**
 * Whether a task can be handed over: its program is a path (or, `byName`, a name) env cannot take for
 * a variable (no "="), nothing holds a NUL, and it is no larger than `limit` characters (a large one
 * starts directly).
 */
function launchable(task: HostTask, limit: number, byName = false): boolean {
  const program = task.argv[0];
  if (!(program.startsWith("/") || (byName && program !== "" && !program.includes("/"))) || program.includes("=")) {
    return false;
  }
  // A NUL would end a field early (a direct start refuses it instead).
  const fields = [task.cwd, ...Object.entries(task.env).flat(), ...task.argv];
  let chars = 0;
  for (const field of fields) {
    if (field.includes("\0")) return false;
    chars += field.length + 1;
  }
  return chars <= limit;
}

/**
 * Variables bash sets, computes or guards itself, or that change how it runs (and the standby's own):
 * exported by the standby they would not reach the task as given. A constant: never changed.
 */
const BASH_OWN = new Set([
  "_",
  "SHLVL",
  "PWD",
  "OLDPWD",
  "RANDOM",
  "SRANDOM",
  "SECONDS",
  "LINENO",
  "HISTCMD",
  "EPOCHSECONDS",
  "EPOCHREALTIME",
  "DIRSTACK",
  "FUNCNAME",
  "GROUPS",
  "UID",
  "EUID",
  "PPID",
  "SHELLOPTS",
  "BASHOPTS",
  "POSIXLY_CORRECT",
  "IFS",
  "GLOBIGNORE",
  "go",
  "f",
  "count",
  "vars",
  "args",
  "v",
]);

/**
 * Whether the standby can export the task's environment and exec the task itself, sparing the start
 * of env (0.25-0.5 ms): only when the task is bash, the very program the standby is. bash passes on what
 * it exports, plus SHLVL=0, which the task's bash reads as no SHLVL at all; any other program would
 * see that SHLVL. The task's bash rebuilds its environment in its own order either way.
 */
function exportable(standby: StandbyProcess, task: HostTask): boolean {
  const program = fileId(task.program ?? task.argv[0]);
  if (!standby.bash || !program || program.dev !== standby.bash.dev || program.ino !== standby.bash.ino) return false;
  return Object.keys(task.env).every((name) =>
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !name.startsWith("BASH") && !name.startsWith("COMP_") &&
    !BASH_OWN.has(name)
  );
}

function fileId(path: string): FileId | null {
  try {
    const { dev, ino } = Deno.statSync(path);
    return ino === null ? null : { dev, ino };
  } catch {
    return null;
  }
}

/** Whether `pid` has `path` open as its fd 3, where a standby opens its file. */
function holds(pid: number, path: string): boolean {
  try {
    return Deno.readLinkSync(`/proc/${pid}/fd/3`) === path;
  } catch {
    return false;
  }
}
