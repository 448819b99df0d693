/** Finding a program the way execvp would, before anything is started. */
import { join } from "node:path";

/** Where a system's own programs are (bash, env, du, bwrap): the PATH of what the agent starts for itself. */
export const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";
/** The same with the administrator's directories, for what only root runs (useradd, setpriv). */
export const SYSTEM_ADMIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The executable `name` resolves to in `searchPath` (a PATH value); a name with a "/" is taken as is. */
export function findExecutable(name: string, searchPath: string): string | null {
  if (name.includes("/")) return isExecutable(name) ? name : null;
  for (const dir of searchPath.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/**
 * Most programs remembered: a task's PATH and program come from its job, so the pairs an agent sees
 * have no bound of their own. Past it the lookups start over (a miss costs a few stat calls).
 */
const MAX_PROGRAMS = 1024;

/**
 * Programs found for an agent's tasks, by PATH and name: every task starts one, and each miss on the
 * way costs a stat. A program found once is looked at again (one stat), in case it was removed since.
 */
export class ProgramLookup {
  #found = new Map<string, string>();

  find(name: string, searchPath: string): string | null {
    if (name.includes("/")) return isExecutable(name) ? name : null;
    const key = `${searchPath}\0${name}`;
    const known = this.#found.get(key);
    if (known !== undefined && isExecutable(known)) return known;
    const found = findExecutable(name, searchPath);
    if (found === null) return null;
    if (this.#found.size >= MAX_PROGRAMS) this.#found.clear();
    this.#found.set(key, found);
    return found;
  }
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
