/**
 * The source of a git task: a checkout of `repo` at `ref` in the task's directory. Each repository
 * has one mirror per credential in the cache directory, so later tasks with the same credentials
 * fetch only what is new (or nothing, for a commit the mirror holds), and a checkout borrows the
 * mirror's objects instead of copying them. A task never sees a mirror another credential filled.
 * Credentials in the URL never reach a command line, a log line, an error or the mirror's config.
 */
import { join, resolve } from "node:path";
import { refProblem } from "../protocol/mod.ts";
import { checkoutFromMirror, clearDest, requireEmpty } from "./_git_checkout.ts";
import { checkLocalRepo } from "./_git_local.ts";
import { mirrorPathFor, openMirror, resolveInMirror } from "./_git_mirror.ts";
import { MirrorKey } from "./_git_mirror_key.ts";
import { gitEnvironment, parseRemote, type Remote, scrubberFor } from "./_git_remote.ts";
import { cancelled, type GitContext, GitError, timedOut } from "./_git_run.ts";

export { redactUrl } from "./_git_remote.ts";
export { GitError, type GitErrorKind } from "./_git_run.ts";

export interface GitSource {
  repo: string;
  /** A branch, a tag, a full ref name (refs/pull/1/head), HEAD, or a commit sha. */
  ref: string;
  /** Fetch only this many commits of `ref` (while the mirror does not hold the full history). */
  depth: number | null;
}

/**
 * One cache directory of mirrors, as one agent uses it: its key, and the order in which checkouts take
 * each mirror (one at a time, in arrival order). One of these per cache directory, one agent per data
 * directory.
 */
export class GitMirrors {
  /** The cache directory, resolved. */
  readonly dir: string;
  readonly key: MirrorKey;
  /** The tail of each mirror's queue. */
  #queues = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.key = new MirrorKey(this.dir);
  }

  /** Runs `work` once the checkouts of `mirror` ahead of it are done (or the deadline or a cancel ends the wait). */
  async inTurn<T>(mirror: string, context: GitContext, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(mirror) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => release = resolve);
    const tail = previous.then(() => mine);
    this.#queues.set(mirror, tail);
    try {
      await waitFor(previous, context);
      return await work();
    } finally {
      release();
      if (this.#queues.get(mirror) === tail) this.#queues.delete(mirror);
    }
  }
}

export interface CheckoutOptions {
  /** Where the mirrors live. */
  mirrors: GitMirrors;
  source: GitSource;
  /** An empty or missing directory. */
  dest: string;
  log?: (line: string) => void;
  /**
   * performance.now() instant that bounds the whole checkout, waiting for the mirror included: every
   * git command is killed at it (a GitError of kind "timeout"). Default: 15 minutes from the call.
   */
  deadline?: number;
  /** Aborting it kills the checkout's git commands: a GitError of kind "cancelled". */
  signal?: AbortSignal;
  /** Whether `repo` may be a repository on this machine (a path, `file://`); default no. */
  allowLocal?: boolean;
  /**
   * Directories no local repository may be in (the agent's data directory); the cache directory
   * always is one, since its mirrors hold what other credentials fetched.
   */
  protectedDirs?: string[];
}

export interface CheckoutResult {
  commit: string;
  dir: string;
  /** Paths the checkout needs readable: the mirror's objects, which it borrows. */
  readPaths: string[];
  /** Whether the server was contacted. */
  fetched: boolean;
}

export const DEFAULT_CHECKOUT_TIMEOUT_MS = 15 * 60_000;

/** Checks out `source` in `dest`, detached at the commit `ref` names; throws GitError. */
export async function checkoutRepo(options: CheckoutOptions): Promise<CheckoutResult> {
  const { source } = options;
  const remote = remoteOf(source.repo);
  checkSource(source, remote);
  const { mirrors } = options;
  const cacheDir = mirrors.dir;
  if (remote.localPath !== null) {
    await checkLocalRepo(remote, {
      allowed: options.allowLocal ?? false,
      protectedDirs: [cacheDir, ...options.protectedDirs ?? []],
    });
  }
  const dest = resolve(options.dest);
  const existed = await requireEmpty(dest);
  const context = contextFor(remote, options);
  await Deno.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const mirror = await mirrorPathFor(mirrors.key, remote);
  const attempt = async (): Promise<CheckoutResult> => {
    await openMirror(context, mirror, remote.url);
    const { commit, fetched } = await resolveInMirror(context, mirror, source);
    await checkoutFromMirror(context, { mirror, dest, commit, url: remote.url });
    context.log(`checked out ${commit} (${source.ref}) in ${dest}`);
    return { commit, dir: dest, readPaths: [join(mirror, "objects")], fetched };
  };
  try {
    return await mirrors.inTurn(mirror, context, async () => {
      try {
        return await attempt();
      } catch (error) {
        // Not the network, the server or the ref: most likely a mirror damaged in a way only using
        // it shows and git does not repair (a torn packed-refs). A fresh one costs one download.
        if (!(error instanceof GitError) || error.kind !== "failed") throw error;
        context.log(`${error.message}; re-creating the mirror and trying again`);
        await Deno.remove(mirror, { recursive: true }).catch(() => {});
        await clearDest(dest, existed);
        return await attempt();
      }
    });
  } catch (error) {
    await clearDest(dest, existed);
    throw error;
  }
}

function remoteOf(repo: string): Remote {
  try {
    return parseRemote(repo);
  } catch (error) {
    throw new GitError(`Cannot use the repository: ${(error as Error).message}`, "invalid");
  }
}

function checkSource(source: GitSource, remote: Remote): void {
  const { ref, depth } = source;
  if (refProblem(ref) !== null) {
    throw new GitError(`ref "${ref}" of "${remote.display}" is not a valid git ref`, "invalid");
  }
  if (depth !== null && !(Number.isInteger(depth) && depth >= 1)) {
    throw new GitError(`depth of "${remote.display}" must be a whole number of at least 1, got ${depth}`, "invalid");
  }
}

function contextFor(remote: Remote, options: CheckoutOptions): GitContext {
  const scrub = scrubberFor(remote);
  const log = options.log ?? (() => {});
  const now = performance.now();
  const deadline = options.deadline ?? now + DEFAULT_CHECKOUT_TIMEOUT_MS;
  return {
    env: gitEnvironment(remote, Deno.env.toObject(), { allowLocal: options.allowLocal }),
    deadline,
    timeoutMs: Math.max(0, deadline - now),
    signal: options.signal ?? null,
    display: remote.display,
    scrub,
    log: (line) => log(scrub(line)),
  };
}

/** Until the checkout ahead is done, the deadline passes, or the checkout is cancelled. */
async function waitFor(previous: Promise<void>, context: GitContext): Promise<void> {
  const doing = `fetch "${context.display}" (waiting for another checkout of it)`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const ended = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(context, doing)), Math.max(0, context.deadline - performance.now()));
    onAbort = () => reject(cancelled(doing));
    if (context.signal?.aborted) onAbort();
    context.signal?.addEventListener("abort", onAbort);
  });
  try {
    await Promise.race([previous, ended]);
  } finally {
    clearTimeout(timer);
    context.signal?.removeEventListener("abort", onAbort);
  }
}
