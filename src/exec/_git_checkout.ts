/**
 * A task's working copy: its own repository (own refs, index and config, so the task's git commands
 * cannot touch the mirror) whose objects are borrowed from the mirror through
 * objects/info/alternates, detached at the resolved commit.
 */
import { join } from "node:path";
import { git, type GitContext, GitError } from "./_git_run.ts";

export interface WorkingCopy {
  mirror: string;
  dest: string;
  commit: string;
  /** The credential-free URL, as the working copy's `origin`. */
  url: string;
}

// By hand rather than `git clone --shared`: clone ignores --shared when the mirror is shallow and
// copies every object instead.
export async function checkoutFromMirror(context: GitContext, copy: WorkingCopy): Promise<void> {
  const { mirror, dest, commit, url } = copy;
  const doing = { doing: `check out ${commit} in "${dest}"` };
  await git(context, ["init", "--quiet", "--template=", dest], doing);
  const gitDir = join(dest, ".git");
  await Deno.mkdir(join(gitDir, "objects", "info"), { recursive: true });
  await Deno.writeTextFile(join(gitDir, "objects", "info", "alternates"), `${join(mirror, "objects")}\n`);
  // The mirror's shallow boundaries tell git that missing parents are missing on purpose.
  try {
    await Deno.copyFile(join(mirror, "shallow"), join(gitDir, "shallow"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await git(context, ["-C", dest, "remote", "add", "origin", url], doing);
  // Branches as origin's and the tags, for tools that read them (`git describe`, version scripts).
  const listing = await git(
    context,
    ["--git-dir", mirror, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"],
    doing,
  );
  const updates = listing.split("\n").filter((line) => line !== "").map((line) => {
    const [sha, name] = line.split(" ");
    const local = name.startsWith("refs/heads/") ? `refs/remotes/origin/${name.slice("refs/heads/".length)}` : name;
    return `create ${local} ${sha}\n`;
  });
  if (updates.length > 0) {
    await git(context, ["-C", dest, "update-ref", "--stdin"], { ...doing, stdin: updates.join("") });
  }
  await git(context, ["-C", dest, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit], doing);
}

/** Whether `dest` existed; a checkout goes only into an empty or missing directory. */
export async function requireEmpty(dest: string): Promise<boolean> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dest));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new GitError(`Cannot check out into "${dest}": ${(error as Error).message}`, "invalid");
  }
  if (entries.length > 0) throw new GitError(`Cannot check out into "${dest}": the directory is not empty`, "invalid");
  return true;
}

/** Puts `dest` back as it was before a failed checkout: missing, or empty. */
export async function clearDest(dest: string, existed: boolean): Promise<void> {
  if (!existed) {
    await Deno.remove(dest, { recursive: true }).catch(() => {});
    return;
  }
  for await (const entry of Deno.readDir(dest)) await Deno.remove(join(dest, entry.name), { recursive: true });
}
