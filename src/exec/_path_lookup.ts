/** Finding a program the way execvp would, before anything is started. */
import { join } from "node:path";

/** Found programs, by PATH and name: every task starts one, and each miss on the way costs a stat. */
const found = new Map<string, string>();

/** The executable `name` resolves to in `searchPath` (a PATH value); a name with a "/" is taken as is. */
export function findExecutable(name: string, searchPath: string): string | null {
  if (name.includes("/")) return isExecutable(name) ? name : null;
  const key = `${searchPath}\0${name}`;
  const known = found.get(key);
  // A program found once is looked at again (one stat), in case it was removed since.
  if (known !== undefined && isExecutable(known)) return known;
  for (const dir of searchPath.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) {
      found.set(key, candidate);
      return candidate;
    }
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
