/**
 * One bare mirror per repository and credential in the cache directory, kept up to date by fetches,
 * from which checkouts borrow their objects. Every function here expects the caller to hold the
 * mirror's lock.
 */
import { basename, dirname, join } from "node:path";
import type { MirrorKey } from "./_git_mirror_key.ts";
import type { Remote } from "./_git_remote.ts";
import { classify, git, type GitContext, GitError, runGit } from "./_git_run.ts";

/** Where a fetch puts the commit a task asked for, which also keeps it from garbage collection. */
const WANTED = "refs/fabric/wanted";

export interface MirrorSource {
  ref: string;
  depth: number | null;
}

export interface Resolved {
  commit: string;
  /** Whether the server was contacted. */
  fetched: boolean;
}

/**
 * Named by a keyed hash of the credential-free URL and the credentials, so that the tasks of a
 * repository share a mirror only with tasks that could fetch the same: a commit, or a branch only
 * some credentials see, never reaches a task through a mirror that other credentials filled (nor
 * through the mirror's objects, which a checkout can read). Keyed, since the name shows in logs:
 * a plain hash would let anyone who reads them try passwords against it.
 */
export async function mirrorPathFor(cacheKey: MirrorKey, remote: Remote): Promise<string> {
  const { url, credentials } = remote;
  const identity = credentials ? [url, credentials.username, credentials.password] : [url];
  const key = await cacheKey.get(isMirrorName);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(JSON.stringify(identity)));
  const hex = Array.from(new Uint8Array(mac).slice(0, 16), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return join(cacheKey.cacheDir, `${hex}.git`);
}

/** A mirror, or what is left of one whose creation was interrupted. */
function isMirrorName(name: string): boolean {
  return /^[0-9a-f]{32}\.git(\.tmp-[0-9a-f]{8})?$/.test(name);
}

/**
 * Makes `path` a usable mirror of `url`. A mirror is created under a temporary name and renamed
 * into place, so a crash while creating it leaves only a leftover to remove; one that is damaged
 * anyway (its HEAD, config or layout unreadable) is removed and created again.
 */
export async function openMirror(context: GitContext, path: string, url: string): Promise<void> {
  await removeLeftovers(path);
  const check = await runGit(context, ["--git-dir", path, "config", "--get", "remote.origin.url"], {
    doing: `read the mirror "${path}"`,
  });
  if (check.code === 0 && check.stdout.trim() === url) {
    await removeStaleLocks(path);
    return;
  }
  if (await exists(path)) {
    context.log(`the mirror "${path}" is damaged; re-creating it`);
    await Deno.remove(path, { recursive: true });
  }
  const temporary = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const doing = { doing: `create the mirror "${path}"` };
  // No templates: a user's template could install hooks (reference-transaction) into the mirror.
  await git(context, ["init", "--quiet", "--bare", "--template=", temporary], doing);
  await git(context, ["--git-dir", temporary, "config", "remote.origin.url", url], doing);
  await Deno.rename(temporary, path);
}

/**
 * The commit `source.ref` names, fetching into the mirror what is missing. A full commit sha that
 * the mirror already holds needs no server; with a depth, a mirror that does not hold the full
 * history yet fetches only that ref, that deep.
 */
export async function resolveInMirror(context: GitContext, mirror: string, source: MirrorSource): Promise<Resolved> {
  const { ref, depth } = source;
  const sha = isFullSha(ref);
  const shallow = await exists(join(mirror, "shallow"));
  if (sha && (depth !== null || !shallow) && await hasCommit(context, mirror, ref)) {
    context.log(`commit ${ref} is already in the mirror; not contacting the server`);
    return { commit: ref, fetched: false };
  }
  const full = !shallow && await hasBranches(context, mirror);
  if (depth !== null && !full) {
    await fetch(context, mirror, ref, ["--depth", String(depth), "origin", `+${ref}:${WANTED}`]);
    return { commit: await peel(context, mirror, ref), fetched: true };
  }
  // Branches and tags only: `--mirror`'s refs/* would also bring every pull request of a forge.
  const args = ["--prune", ...(shallow ? ["--unshallow"] : []), "origin"];
  args.push("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*");
  if (!sha) {
    // The server resolves a name (branch, tag, HEAD, refs/pull/1/head) in the same round trip. The
    // previous answer goes first: --prune would delete it as stale, then fail to write it.
    await git(context, ["--git-dir", mirror, "update-ref", "-d", WANTED], { doing: `read the mirror "${mirror}"` });
    args.push(`+${ref}:${WANTED}`);
  }
  await fetch(context, mirror, ref, args);
  if (!sha) return { commit: await peel(context, mirror, ref), fetched: true };
  if (!await hasCommit(context, mirror, ref)) {
    // A commit no branch or tag reaches: servers that allow it (protocol v2 does) send it by name.
    await fetch(context, mirror, ref, ["origin", `+${ref}:${WANTED}`]);
  }
  return { commit: await peel(context, mirror, ref, ref), fetched: true };
}

export function isFullSha(ref: string): boolean {
  return /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);
}

async function fetch(context: GitContext, mirror: string, ref: string, args: string[]): Promise<void> {
  context.log(`fetching ${ref} from ${context.display}`);
  const output = await runGit(context, ["--git-dir", mirror, "fetch", "--no-write-fetch-head", ...args], {
    doing: `fetch "${context.display}"`,
  });
  for (const line of output.rawStderr.split("\n")) if (line.trim() !== "") context.log(`git: ${line.trimEnd()}`);
  if (output.code === 0) return;
  const classified = classify(output.rawStderr);
  const kind = classified.kind;
  const line = context.scrub(classified.line);
  const where = `"${context.display}"`;
  switch (kind) {
    case "invalid":
      throw new GitError(
        `Cannot fetch ${where}: git refused to reach it (git: ${line}); git tasks use network transports only ` +
          "(https, http, ssh, git), and paths on the agent's disk only where the agent allows them",
        kind,
      );
    case "ref_not_found":
      throw new GitError(`ref "${ref}" not found in ${where} (git: ${line})`, kind);
    case "auth":
      throw new GitError(
        `Cannot fetch ${where}: authentication failed; check the credentials in the repository URL (git: ${line})`,
        kind,
      );
    case "unreachable":
      throw new GitError(`Cannot fetch ${where}: the repository is unreachable or does not exist (git: ${line})`, kind);
    default:
      throw new GitError(`Cannot fetch ${where} (git: ${line})`, kind);
  }
}

/** The commit `name` (by default the fetched ref) points at, through annotated tags. */
async function peel(context: GitContext, mirror: string, ref: string, name = WANTED): Promise<string> {
  const output = await runGit(context, ["--git-dir", mirror, "rev-parse", "--verify", "--quiet", `${name}^{commit}`], {
    doing: `resolve "${ref}"`,
  });
  if (output.code !== 0) {
    throw new GitError(`ref "${ref}" in "${context.display}" does not name a commit`, "ref_not_found");
  }
  return output.stdout.trim();
}

async function hasCommit(context: GitContext, mirror: string, sha: string): Promise<boolean> {
  const output = await runGit(context, ["--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`], {
    doing: `look for ${sha}`,
  });
  return output.code === 0;
}

async function hasBranches(context: GitContext, mirror: string): Promise<boolean> {
  const output = await git(context, ["--git-dir", mirror, "for-each-ref", "--count=1", "--format=x", "refs/heads"], {
    doing: `read the mirror "${mirror}"`,
  });
  return output.trim() !== "";
}

/** Temporary directories of mirrors whose creation was interrupted. */
async function removeLeftovers(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  for await (const entry of Deno.readDir(dirname(path))) {
    if (entry.name.startsWith(prefix)) await Deno.remove(join(dirname(path), entry.name), { recursive: true });
  }
}

/**
 * Lock files a killed git left behind; they would fail every later fetch. Safe to remove because
 * the caller holds the mirror's lock (one process per cache directory).
 */
async function removeStaleLocks(dir: string, top = true): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isFile && entry.name.endsWith(".lock")) await Deno.remove(path);
    else if (entry.isDirectory && (top ? entry.name === "refs" : true)) await removeStaleLocks(path, false);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
