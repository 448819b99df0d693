/**
 * Running one git command: bounded by a deadline and a cancel signal, in its own process group so
 * that either kills the helpers it started too (remote-https, index-pack, ssh), and with failures
 * turned into GitErrors whose text has been scrubbed of credentials.
 */

export type GitErrorKind = "unreachable" | "auth" | "ref_not_found" | "timeout" | "cancelled" | "invalid" | "failed";

/** A checkout that could not be done, in words a user can act on; never holds credentials. */
export class GitError extends Error {
  readonly kind: GitErrorKind;
  constructor(message: string, kind: GitErrorKind) {
    super(message);
    this.name = "GitError";
    this.kind = kind;
  }
}

/** What every git command of one checkout shares. */
export interface GitContext {
  env: Record<string, string>;
  /** performance.now() after which nothing more may run. */
  deadline: number;
  /** The time the checkout was given, for messages. */
  timeoutMs: number;
  /** Once aborted, nothing more runs and what runs is killed. */
  signal: AbortSignal | null;
  /** The repository URL as users may see it. */
  display: string;
  scrub: (text: string) => string;
  log: (line: string) => void;
}

export interface GitOutput {
  code: number;
  stdout: string;
  /** Not scrubbed yet (so that failures can be told apart): pass it through `context.scrub` to show it. */
  rawStderr: string;
}

export interface RunOptions {
  cwd?: string;
  stdin?: string;
  /** What is being done, for messages: "fetch", "check out". */
  doing: string;
}

/** Runs `git ARGS`; throws a GitError only on a timeout or a cancel (the caller judges the exit code). */
export async function runGit(context: GitContext, args: string[], options: RunOptions): Promise<GitOutput> {
  const remaining = context.deadline - performance.now();
  if (context.signal?.aborted) throw cancelled(options.doing);
  if (remaining <= 0) throw timedOut(context, options.doing);
  let child: Deno.ChildProcess;
  try {
    child = spawnGit(context, args, options);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new GitError(`Cannot ${options.doing}: git is not installed (not found in PATH)`, "invalid");
  }
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    killGroup(child.pid);
  }, remaining);
  const onAbort = () => killGroup(child.pid);
  context.signal?.addEventListener("abort", onAbort);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const output = await child.output();
    if (context.signal?.aborted) throw cancelled(options.doing);
    if (expired) throw timedOut(context, options.doing);
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      rawStderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
    context.signal?.removeEventListener("abort", onAbort);
    killGroup(child.pid);
  }
}

/** Runs `git ARGS` and returns its stdout; a failure becomes a GitError of kind "failed". */
export async function git(context: GitContext, args: string[], options: RunOptions): Promise<string> {
  const output = await runGit(context, args, options);
  if (output.code !== 0) {
    throw new GitError(`Cannot ${options.doing} (git: ${context.scrub(relevantLine(output.rawStderr))})`, "failed");
  }
  return output.stdout;
}

function spawnGit(context: GitContext, args: string[], options: RunOptions): Deno.ChildProcess {
  return new Deno.Command("git", {
    args,
    cwd: options.cwd,
    env: context.env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    // setsid(): no controlling terminal that ssh could prompt on, and one group to kill.
    detached: true,
  }).spawn();
}

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the group is already gone.
  }
}

export function timedOut(context: GitContext, doing: string): GitError {
  const seconds = Math.round(context.timeoutMs / 100) / 10;
  return new GitError(`Cannot ${doing}: git did not finish within ${seconds}s`, "timeout");
}

export function cancelled(doing: string): GitError {
  return new GitError(`Cannot ${doing}: the task was cancelled`, "cancelled");
}

const PATTERNS: Array<[Exclude<GitErrorKind, "timeout" | "cancelled" | "failed">, RegExp]> = [
  // GIT_ALLOW_PROTOCOL at work: a URL rewritten, redirected or pointing to a transport git may not use.
  ["invalid", /transport '.*' not allowed|redirect.*not allowed|unsupported protocol/i],
  ["ref_not_found", /couldn't find remote ref|not our ref|no such remote ref|Remote branch .* not found/i],
  [
    "auth",
    /Authentication failed|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]|Permission denied \(|HTTP Basic: Access denied|Host key verification failed/i,
  ],
  [
    "unreachable",
    /unable to access|unable to connect|Could not resolve|Connection refused|timed out|Failed to connect|not found|does not appear to be a git repository|not exported|no such repository|Could not read from remote repository|Connection reset|No route to host/i,
  ],
];

/** What kind of failure git's stderr describes, and the line that says so. */
export function classify(stderr: string): { kind: GitErrorKind; line: string } {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  for (const [kind, pattern] of PATTERNS) {
    const at = lines.findIndex((line) => pattern.test(line));
    if (at < 0) continue;
    // "unable to connect to host:" is continued on the next line by the reason.
    const continued = lines[at].endsWith(":") && at + 1 < lines.length;
    return { kind, line: continued ? `${lines[at]} ${lines[at + 1]}` : lines[at] };
  }
  return { kind: "failed", line: relevantLine(stderr) };
}

/** The last `fatal:` or `error:` line, else the last line: what a user should read. */
export function relevantLine(stderr: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const fatal = lines.findLast((line) => /^(fatal|error):/.test(line));
  return fatal ?? lines.at(-1) ?? "no message";
}
