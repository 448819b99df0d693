/** Child processes for tests: fabric commands from source, with their output collected. */

export const MAIN = new URL("../main.ts", import.meta.url).pathname;
export const REPO = new URL("../", import.meta.url).pathname;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A child's environment: `env` over this process's, keeping Deno's cache where it is. A test that
 * gives a child a HOME of its own (a fresh user's) would otherwise send it to an empty cache, which
 * downloads every package from the network (slowly, and off loopback).
 */
export function childEnv(env: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!env || !("HOME" in env || "XDG_CACHE_HOME" in env) || "DENO_DIR" in env) return env;
  return { DENO_DIR: denoDir(), ...env };
}

/** Where this deno keeps its cache (as Deno finds it on Linux and macOS). */
function denoDir(): string {
  const own = Deno.env.get("DENO_DIR");
  if (own) return own;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/deno`;
  const home = Deno.env.get("HOME") ?? "";
  return Deno.build.os === "darwin" ? `${home}/Library/Caches/deno` : `${home}/.cache/deno`;
}

/** `fabric ARGS` as a fresh process, to completion (killed after `timeoutMs`). */
export async function fabric(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<CommandResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    env: childEnv(options.env),
    cwd: options.cwd ?? REPO,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 60_000);
  const output = await child.output();
  clearTimeout(timer);
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

export interface WatchedOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** "piped" for a child that is sent input (the bench's simulator). */
  stdin?: "piped" | "null";
  /** Run as this user and group (root only: PostgreSQL's initdb refuses to run as root). */
  uid?: number;
  gid?: number;
}

type Stream = "stdout" | "stderr";

/**
 * A long-running child whose output is waited on for patterns, stopped with escalation. What of its
 * output is kept, and where a pattern is looked for, is the subclass's: a test keeps everything and
 * asserts on it, the bench keeps a tail of lines (its fleets print for minutes).
 */
export abstract class WatchedChild {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  readonly exited: Promise<Deno.CommandStatus>;
  #waiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(name: string, command: string, args: string[], options: WatchedOptions = {}) {
    this.name = name;
    this.child = new Deno.Command(command, {
      args,
      env: childEnv(options.env),
      cwd: options.cwd ?? REPO,
      stdin: options.stdin ?? "null",
      uid: options.uid,
      gid: options.gid,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, which: Stream) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this.received(text, which, false);
        this.#checkWaiters();
      }
      this.received("", which, true);
      this.#checkWaiters();
    };
    this.exited = Promise.all([pump(this.child.stdout, "stdout"), pump(this.child.stderr, "stderr")])
      .then(() => this.child.status);
  }

  /** Keeps its part of `text`; `ended` is the stream's end (no more text on it). */
  protected abstract received(text: string, stream: Stream, ended: boolean): void;
  /** The first match of `pattern` in what is kept. */
  protected abstract find(pattern: RegExp): RegExpMatchArray | null;
  /** The kept output, for a failure's message. */
  abstract describe(): string;

  #checkWaiters(): void {
    for (const waiter of [...this.#waiters]) {
      const match = this.find(waiter.pattern);
      if (match) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  }

  /** Resolves with the first match of `pattern` in the output; rejects after `timeoutMs` or on exit. */
  waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const existing = this.find(pattern);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (match: RegExpMatchArray) => {
          clearTimeout(timer);
          resolve(match);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no output matching ${pattern} within ${timeoutMs}ms\n${this.describe()}`));
      }, timeoutMs);
      this.exited.then((status) => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${status.code}) before printing ${pattern}\n${this.describe()}`));
      });
      this.#waiters.push(waiter);
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }

  /** Its status once it ends by itself, or an error (with its output) if it has not within `timeoutMs`. */
  async ended(timeoutMs = 20_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not end in ${timeoutMs}ms\n${this.describe()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop with `signal`, then SIGKILL if it is not gone after `graceMs`. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 10_000): Promise<Deno.CommandStatus> {
    this.kill(signal);
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A long-running fabric process (tracker or agent) whose whole output is kept for assertions and failures. */
export class Daemon extends WatchedChild {
  stdout = "";
  stderr = "";

  /** `wrap`: a command the process is started under, e.g. `["ip", "netns", "exec", NAME]`. */
  constructor(name: string, args: string[], env?: Record<string, string>, wrap: string[] = []) {
    const command = [...wrap, Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args];
    super(name, command[0], command.slice(1), { env });
  }

  protected received(text: string, stream: Stream): void {
    this[stream] += text;
  }

  protected find(pattern: RegExp): RegExpMatchArray | null {
    return (this.stdout + this.stderr).match(pattern);
  }

  describe(): string {
    return `--- ${this.name} stdout ---\n${this.stdout.slice(-4000)}\n--- ${this.name} stderr ---\n${
      this.stderr.slice(-4000)
    }`;
  }
}

/** Poll `check` until it returns a value (not undefined/false) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
  throw new Error(`Timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** Processes whose working directory is inside `dir` (tasks started under a test's agents). */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cwd = await Deno.readLink(`/proc/${entry.name}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + "/")) pids.push(Number(entry.name));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

export async function killProcessesUnder(dir: string): Promise<void> {
  for (const pid of await processesUnder(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}
