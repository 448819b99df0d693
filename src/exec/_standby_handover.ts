/**
 * How a task is handed to a standby: whether it can be (its size, its program, its environment), and
 * the task itself, written in the standby's file or on its stdin for the wait of _standby_script.ts.
 */
import type { TaskUser } from "./task_user.ts";
import { closeInbox, writeAll } from "./_standby_inbox.ts";
import { fileId, type StandbyProcess } from "./_standby_process.ts";

/**
 * The largest task, in characters, handed over in a file: even at 3 bytes each, under what exec
 * takes in one argument (128 KiB), which a direct start would refuse with a clearer error.
 */
export const MAX_INBOX_CHARS = 32 * 1024;
/**
 * The largest handed over on the pipe, read a byte at a time (~0.4 us each: 8 KiB ~3 ms, about what
 * the standby saves).
 */
export const MAX_PIPE_CHARS = 8 * 1024;
/** The byte on stdin that says the task is in the standby's file (a constant: never written to). */
const GO = new Uint8Array([10]);
/** The byte on stdin that says the task follows on stdin. */
const ON_STDIN = "p";

/** A task started on the host (its argv may begin with its sandbox), as a standby is handed it. */
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
export function launch(standby: StandbyProcess, task: HostTask, mode: "export" | "env"): void {
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

/**
 * Whether a task can be handed over: its program is a path (or, `byName`, a name) env cannot take for
 * a variable (no "="), nothing holds a NUL, and it is no larger than `limit` characters (a large one
 * starts directly).
 */
export function launchable(task: HostTask, limit: number, byName = false): boolean {
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
export function exportable(standby: StandbyProcess, task: HostTask): boolean {
  const program = fileId(task.program ?? task.argv[0]);
  if (!standby.bash || !program || program.dev !== standby.bash.dev || program.ino !== standby.bash.ino) return false;
  return Object.keys(task.env).every((name) =>
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !name.startsWith("BASH") && !name.startsWith("COMP_") &&
    !BASH_OWN.has(name)
  );
}
