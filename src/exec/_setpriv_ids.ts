/**
 * How setpriv is told the task user's ids. setpriv takes every id it is given for a name first
 * (getpwnam, getgrnam) and only then for a number, so a number goes through every source of the
 * system's user database before it counts: /etc/passwd or /etc/group, which do not know it, then the
 * next source, on Debian systemd's, loaded and asked at every start (`libnss_systemd`, its sockets).
 * That took 0.37 ms of the 0.79 ms of CPU setpriv costs on its own here, at every task's start. A
 * name the database gives for exactly that id ends the lookup at the first source that knows it: the
 * name is given where the agent saw it resolve so (through the same database, with `getent`), the
 * number otherwise. Either way setpriv sets the same ids, as long as the database says what it said
 * when the agent started (an agent is restarted after its task user is renamed or renumbered).
 */
import { findExecutable, SYSTEM_ADMIN_PATH } from "./_path_lookup.ts";

/** The words setpriv gets for the user, the user's group and the standby's other group. */
export interface SetprivIds {
  user: string;
  group: string;
  otherGroup: string;
}

/** The overflow gid ("nogroup"): nobody's files are its own. */
const OTHER_GID = 65534;

/** The gid a standby holds while it waits (standbySwitch): any but the user's and root's. */
export function otherGid(gid: number): number {
  return gid === OTHER_GID ? OTHER_GID - 1 : OTHER_GID;
}

/**
 * The words for `user` (whose name resolved to `uid` through getent: `userResolved`) and its group
 * `gid`: a name where `getent` gives that name exactly this id, else the number.
 */
export async function setprivIds(
  user: { name: string; uid: number; gid: number },
  userResolved: boolean,
): Promise<SetprivIds> {
  const other = otherGid(user.gid);
  const groups = await Deno.readTextFile("/etc/group").catch(() => "");
  const [group, otherGroup] = await Promise.all([groupName(groups, user.gid), groupName(groups, other)]);
  return {
    user: userResolved && !/^\d+$/.test(user.name) ? user.name : String(user.uid),
    group: group ?? String(user.gid),
    otherGroup: otherGroup ?? String(other),
  };
}

/** A name of the group `gid` in /etc/group (`groups`) that the user database resolves back to `gid`; null if none. */
async function groupName(groups: string, gid: number): Promise<string | null> {
  const getent = findExecutable("getent", SYSTEM_ADMIN_PATH);
  if (getent === null) return null;
  const candidate = groupFileName(groups, gid);
  if (candidate === null) return null;
  try {
    const out = await new Deno.Command(getent, { args: ["group", candidate], stdout: "piped", stderr: "null" })
      .output();
    if (!out.success) return null;
    const fields = new TextDecoder().decode(out.stdout).split("\n")[0].split(":");
    return fields[0] === candidate && fields[2] === String(gid) ? candidate : null;
  } catch {
    return null;
  }
}

/** The first name /etc/group gives `gid` (a numeric name is no use: setpriv would read it either way). */
function groupFileName(groups: string, gid: number): string | null {
  for (const line of groups.split("\n")) {
    const [name, , id] = line.split(":");
    if (id === String(gid) && name && /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(name)) return name;
  }
  return null;
}
