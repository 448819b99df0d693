/** Finding a program the way execvp would, before anything is started. */
import { join } from "node:path";

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

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
