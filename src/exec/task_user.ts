/**
 * The user tasks run as. An agent running as root never runs task code as root, sandboxed or not: its
 * tasks run as an unprivileged system user, `fabric-task` unless told otherwise, created when missing
 * the way Debian packages create theirs (a system account with a group of its own, no home directory,
 * no login shell). An agent running as any other user runs tasks as itself. The switch is made by
 * `setpriv` (util-linux) as the last step before the task's program, after the agent's own work as
 * root: joining the task's cgroups, setting its limits, building its sandbox.
 */
import { lchownSync } from "node:fs";
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import { findExecutable, SYSTEM_ADMIN_PATH } from "./_path_lookup.ts";
import { otherGid, type SetprivIds, setprivIds } from "./_setpriv_ids.ts";

export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
  /** The setpriv that makes the switch. */
  setpriv: string;
  /** What setpriv is told for each id (_setpriv_ids.ts); the numbers where absent. */
  setprivIds?: SetprivIds;
}

export const DEFAULT_TASK_USER = "fabric-task";

const NOLOGIN_SHELLS = ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"];

/**
 * The user an agent running as `agentUid` runs its tasks as: null (as the agent itself) unless the
 * agent is root; then `name`, which must exist, or by default `fabric-task`, created if missing.
 * Throws a FabricError saying what to do when that cannot be.
 */
export async function resolveTaskUser(
  name: string | undefined,
  agentUid: number | null = Deno.uid(),
): Promise<TaskUser | null> {
  if (agentUid !== 0) {
    if (name === undefined) return null;
    throw new FabricError(
      "bad_request",
      `--task-user needs an agent running as root (this one runs as uid ${agentUid}, and its tasks run as it)`,
    );
  }
  const setpriv = findExecutable("setpriv", SYSTEM_ADMIN_PATH);
  if (setpriv === null) {
    throw new FabricError(
      "bad_request",
      'An agent running as root runs its tasks as another user with "setpriv" (util-linux), which was not found',
    );
  }
  const wanted = name ?? DEFAULT_TASK_USER;
  let account = await lookUpUser(wanted);
  if (account === null) {
    if (name !== undefined) {
      throw new FabricError("bad_request", `--task-user: there is no user "${name}" on this machine`);
    }
    await createSystemUser(wanted);
    account = await lookUpUser(wanted);
    if (account === null) throw new FabricError("bad_request", `Created the user "${wanted}" but cannot find it`);
  }
  if (account.uid === 0 || account.gid === 0) {
    throw new FabricError(
      "bad_request",
      `The task user "${wanted}" has uid ${account.uid} and gid ${account.gid}: tasks must not run as root`,
    );
  }
  const { uid, gid } = account;
  return {
    name: wanted,
    uid,
    gid,
    setpriv,
    setprivIds: await setprivIds({ name: wanted, uid, gid }, account.resolved),
  };
}

/**
 * `name`'s uid and primary gid from the system's user database (NSS through getent, else /etc/passwd);
 * `resolved`: through getent, as setpriv's own lookup of the name would.
 */
export async function lookUpUser(name: string): Promise<{ uid: number; gid: number; resolved: boolean } | null> {
  const getent = findExecutable("getent", SYSTEM_ADMIN_PATH);
  let line: string | undefined;
  let resolved = false;
  if (getent !== null) {
    const out = await new Deno.Command(getent, { args: ["passwd", name], stdout: "piped", stderr: "null" }).output();
    // 2: no such key. Anything else is a lookup that did not work: fall back to the file.
    if (out.code === 2) return null;
    if (out.success) line = new TextDecoder().decode(out.stdout).split("\n")[0];
    resolved = out.success;
  }
  if (line === undefined) {
    const passwd = await Deno.readTextFile("/etc/passwd").catch(() => "");
    line = passwd.split("\n").find((entry) => entry.split(":")[0] === name);
  }
  const fields = line?.split(":") ?? [];
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields[0] !== name || !Number.isInteger(uid) || !Number.isInteger(gid) || fields[2] === "") return null;
  return { uid, gid, resolved };
}

/**
 * Creates a system user as Debian packages do (`adduser --system --group`): a uid from the system
 * range, a group of the same name, home /nonexistent (never created), no login shell. A user created
 * meanwhile by another agent starting on the same machine is as good.
 */
export async function createSystemUser(name: string): Promise<void> {
  const useradd = findExecutable("useradd", SYSTEM_ADMIN_PATH);
  if (useradd === null) {
    throw new FabricError(
      "bad_request",
      `An agent running as root runs its tasks as the user "${name}", which does not exist and cannot be created ` +
        `here ("useradd" was not found): create a system user without a home or login shell yourself, or choose ` +
        "one with --task-user NAME",
    );
  }
  const shell = NOLOGIN_SHELLS.find((path) => findExecutable(path, "") !== null) ?? "/bin/false";
  const out = await new Deno.Command(useradd, {
    args: [
      "--system",
      "--user-group",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      shell,
      "--comment",
      "fabric tasks",
      name,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  // 9: the name is taken, by another agent that got there first.
  if (out.success || out.code === 9) return;
  const reason = new TextDecoder().decode(out.stderr).trim() || `useradd exited with code ${out.code}`;
  throw new FabricError(
    "bad_request",
    `Cannot create the task user "${name}": ${reason}; create it yourself, or choose one with --task-user NAME`,
  );
}

/**
 * The argv that runs the rest of a command line as `user`: real, effective and saved ids, no
 * supplementary groups, no inheritable capabilities, and no_new_privs (a setuid program cannot give
 * any of it back).
 */
export function dropPrivileges(user: TaskUser): string[] {
  return [
    user.setpriv,
    `--reuid=${user.setprivIds?.user ?? user.uid}`,
    `--regid=${user.setprivIds?.group ?? user.gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--no-new-privs",
    "--",
  ];
}

/**
 * The argv that runs a standby's bash as `user`, to wait for its task undumpable: as
 * `dropPrivileges`, but with an effective (and saved) gid other than the user's own. A program
 * exec'd with its effective ids not its real ones is not dumpable (as a setgid program is not), and
 * bash, started so without -p, sets all its gids back to the real one (setresgid) first thing, which
 * keeps it undumpable: no other process of `user` may ptrace it, read or write its memory, or open
 * its files through /proc. (An execute-only copy of bash was tried first: on this machine's kernel,
 * 6.18, it stayed dumpable.) The task it execs has its ids all equal and is dumpable again, as a
 * direct start is.
 */
export function standbySwitch(user: TaskUser): string[] {
  // Any gid but the user's and root's: held only until bash drops it.
  const ids = user.setprivIds;
  return [
    user.setpriv,
    `--reuid=${ids?.user ?? user.uid}`,
    `--rgid=${ids?.group ?? user.gid}`,
    `--egid=${ids?.otherGroup ?? otherGid(user.gid)}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--no-new-privs",
    "--",
  ];
}

/** Most entries given to a task: beyond it, a checkout is more than a task directory is for. */
const MAX_HANDED_ENTRIES = 1_000_000;
/** Entries changed between two turns of the event loop (~10-50 ms): a large checkout does not stall the agent. */
const ENTRIES_PER_TURN = 2000;

/**
 * Makes the task's directory, as the agent prepared it (its files, a checkout), the task user's.
 * Children before their directory: while a directory is still the agent's, nothing in it can be
 * swapped for a link (or a hard link) by the task user, whose other tasks may be running, so no chown
 * below ever follows one. Links themselves are left as they are. Iterative and bounded.
 */
export async function handOverTaskDir(dir: string, user: TaskUser): Promise<void> {
  const stack: Array<{ path: string; listed: boolean }> = [{ path: dir, listed: false }];
  let entries = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.listed) {
      stack.pop();
      lchownSync(top.path, user.uid, user.gid);
      continue;
    }
    top.listed = true;
    for (const entry of Deno.readDirSync(top.path)) {
      if (++entries > MAX_HANDED_ENTRIES) {
        throw new RangeError(`the task's directory holds more than ${MAX_HANDED_ENTRIES} entries`);
      }
      if (entries % ENTRIES_PER_TURN === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      const path = join(top.path, entry.name);
      if (entry.isDirectory) stack.push({ path, listed: false });
      else if (!entry.isSymlink) lchownSync(path, user.uid, user.gid);
    }
  }
}

/**
 * Takes a task's directory back from the task user once the task has ended, before the agent looks
 * into it again or keeps it for the next task: the directory first, so that nothing in it can change
 * under the agent any more, then what it holds directly (`.fabric/`, `tmp/`), without following links.
 */
export function reclaimTaskDir(dir: string): void {
  const uid = Deno.uid();
  const gid = Deno.gid();
  if (uid === null || gid === null) return;
  try {
    lchownSync(dir, uid, gid);
    for (const entry of Deno.readDirSync(dir)) lchownSync(join(dir, entry.name), uid, gid);
  } catch {
    // Gone, or partly: the directory is then not kept (it is not as the agent left it).
  }
}

/**
 * Why `user` cannot reach `dir` through its parents (a task on the host needs to, the sandbox binds it
 * in instead), or null: each must let others (or the user's group, or the user) search it.
 */
export function unreachableReason(dir: string, user: TaskUser): string | null {
  const parts = dir.split("/").filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const path = "/" + parts.slice(0, i).join("/");
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      return `"${path}" cannot be looked at`;
    }
    if (!searchable(info, user)) return modeReason(path, info, user);
  }
  return null;
}

function searchable(info: Deno.FileInfo, user: TaskUser): boolean {
  const bit = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
  return ((info.mode ?? 0) & bit) !== 0;
}

function modeReason(path: string, info: Deno.FileInfo, user: TaskUser): string {
  const mode = ((info.mode ?? 0) & 0o777).toString(8).padStart(3, "0");
  return `"${path}" (mode ${mode}) does not let the task user "${user.name}" through`;
}

/**
 * The entries of a task's PATH (the agent's own) that `user` cannot search, each with the reason: a
 * task on the host finds no program there ("command not found"), e.g. a root's `~/.pyenv/shims`. A
 * sandbox shows only the system's directories anyway.
 */
export function unreachablePathEntries(path: string, user: TaskUser): string[] {
  const found: string[] = [];
  for (const entry of new Set(path.split(":").filter((dir) => dir.startsWith("/")))) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(entry);
    } catch {
      continue; // not there for anyone
    }
    // The entry itself must be searchable too: its parents are unreachableReason's.
    const why = unreachableReason(entry, user) ?? (searchable(info, user) ? null : modeReason(entry, info, user));
    if (why) found.push(`"${entry}": ${why}`);
  }
  return found;
}

/**
 * Opens the agent's data directory to the task user just enough to reach a task's directory by its
 * path (search, not list), and closes what else is in it: the journal and the run records (other
 * tasks' output and processes) become the agent's alone. Its credential is already (0600).
 */
export function openWorkRoot(dataDir: string, workRoot: string): void {
  Deno.mkdirSync(workRoot, { recursive: true });
  for (const entry of Deno.readDirSync(dataDir)) {
    const path = join(dataDir, entry.name);
    if (!entry.isDirectory || path === workRoot) continue;
    // The caches are shared with tasks on purpose (a checkout borrows its mirror's objects).
    if (entry.name !== "cache") Deno.chmodSync(path, 0o700);
  }
  Deno.chmodSync(dataDir, 0o711);
  Deno.chmodSync(workRoot, 0o711);
}
