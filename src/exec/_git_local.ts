/**
 * A repository on the agent's own disk (a path, `file://`): refused unless the agent allows local
 * repositories, and always when git would read objects from a protected directory (the mirrors,
 * which hold what other credentials fetched, and the agent's data directory): through the path
 * itself, a link, a `.git` file pointing elsewhere, or the repository's alternates.
 *
 * What this cannot see is a repository changed between this check and git's fetch: allowing local
 * repositories trusts everyone who can write one on the agent's disk.
 */
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { Remote } from "./_git_remote.ts";
import { GitError } from "./_git_run.ts";

export interface LocalRepoRules {
  allowed: boolean;
  protectedDirs: string[];
}

/** git follows alternates this deep (objects/info/alternates of an alternate, ...). */
const MAX_ALTERNATE_DEPTH = 5;
/** More places than a sane repository borrows from; past it the repository is refused. */
const MAX_PLACES = 64;

export async function checkLocalRepo(remote: Remote, rules: LocalRepoRules): Promise<void> {
  const shown = `Cannot use the repository "${remote.display}"`;
  if (!rules.allowed) {
    throw new GitError(
      `${shown}: it is on the agent's own disk, and this agent does not allow local repositories ` +
        "(it would need --allow-local-git); use an https, ssh or git URL",
      "invalid",
    );
  }
  const protectedDirs = await Promise.all(rules.protectedDirs.map((dir) => realPathOf(resolve(dir))));
  const refuse = (place: string) => {
    if (protectedDirs.some((dir) => place === dir || place.startsWith(`${dir}/`))) {
      throw new GitError(`${shown}: it reads from the agent's data directory, which no task may use`, "invalid");
    }
  };
  const path = remote.localPath!;
  // Each candidate git may open for the path, and where it borrows objects from, links resolved.
  const pending: Array<{ place: string; depth: number }> = [path, `${path}.git`, join(path, ".git"), `${path}.git/.git`]
    .map((place) => ({ place, depth: 0 }));
  for (let seen = 0; pending.length > 0; seen++) {
    if (seen >= MAX_PLACES) throw new GitError(`${shown}: it borrows objects from too many places`, "invalid");
    const { place, depth } = pending.shift()!;
    const real = await realPathOf(place);
    refuse(real);
    const gitdir = await gitFileTarget(real);
    if (gitdir !== null) pending.push({ place: gitdir, depth });
    if (depth >= MAX_ALTERNATE_DEPTH) continue;
    for (const objects of [join(real, "objects"), real]) {
      for (const alternate of await alternatesOf(objects)) pending.push({ place: alternate, depth: depth + 1 });
    }
  }
}

/** The path with every link resolved, as far as it exists; the rest appended as written. */
async function realPathOf(path: string): Promise<string> {
  let head = path;
  const tail: string[] = [];
  // Bounded: each turn drops one component, and "/" always exists.
  while (true) {
    try {
      return join(await Deno.realPath(head), ...tail.reverse());
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) || head === "/") {
        throw new GitError(`Cannot resolve "${path}": ${(error as Error).message}`, "invalid");
      }
      tail.push(basename(head));
      head = dirname(head);
    }
  }
}

/** A `.git` file's `gitdir:` (a worktree or submodule pointing at its repository). */
async function gitFileTarget(path: string): Promise<string | null> {
  const text = await readSmallFile(path);
  const match = text?.match(/^gitdir: (.+)$/m);
  if (!match) return null;
  return isAbsolute(match[1]) ? match[1] : resolve(dirname(path), match[1]);
}

/** The directories an objects directory borrows from (relative entries are relative to it). */
async function alternatesOf(objects: string): Promise<string[]> {
  const text = await readSmallFile(join(objects, "info", "alternates"));
  if (text === null) return [];
  return text.split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => isAbsolute(line) ? line : resolve(objects, line));
}

/** A regular file's first 64 KiB, or null when it is missing or not a regular file. */
async function readSmallFile(path: string): Promise<string | null> {
  let file: Deno.FsFile;
  try {
    if (!(await Deno.stat(path)).isFile) return null;
    file = await Deno.open(path, { read: true });
  } catch {
    return null;
  }
  try {
    const buffer = new Uint8Array(64 * 1024);
    const read = await file.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, read ?? 0));
  } finally {
    file.close();
  }
}
