/**
 * Child processes of the bench, each registered until it has exited, so that a failure or Ctrl-C
 * still stops everything it started (`stopAll`). Output is kept only as a short tail: a tracker
 * registering ten thousand agents logs ten thousand lines.
 */

import { MAIN, REPO, WatchedChild, type WatchedOptions } from "../testing/process.ts";

export { MAIN, REPO };

const TAIL_LINES = 200;
/** Everything started and not yet exited: what `stopAll` stops. */
const live = new Set<{ stop(): Promise<unknown> }>();

export interface ProcOptions extends WatchedOptions {
  /** Called with every line of stdout and stderr. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A long-running child of the bench: the tail of its output, lines waited for, lines sent, registered until it exits. */
export class Proc extends WatchedChild {
  #tail: string[] = [];
  #partial = { stdout: "", stderr: "" };
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #onLine?: ProcOptions["onLine"];

  constructor(name: string, command: string, args: string[], options: ProcOptions = {}) {
    super(name, command, args, options);
    this.#onLine = options.onLine;
    live.add(this);
    const forget = () => live.delete(this);
    this.exited.then(forget, forget);
    if (options.stdin === "piped") this.#writer = this.child.stdin.getWriter();
  }

  protected received(text: string, stream: "stdout" | "stderr", ended: boolean): void {
    const lines = (this.#partial[stream] + text).split("\n");
    this.#partial[stream] = lines.pop()!;
    if (ended && this.#partial[stream]) lines.push(this.#partial[stream]);
    for (const line of lines) {
      this.#tail.push(line);
      if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      this.#onLine?.(line, stream);
    }
  }

  /** A pattern is matched line by line, against the tail. */
  protected find(pattern: RegExp): RegExpMatchArray | null {
    for (const line of this.#tail) {
      const match = line.match(pattern);
      if (match) return match;
    }
    return null;
  }

  /** The first line matching `pattern` (or one still in the tail); rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return this.waitForOutput(pattern, timeoutMs);
  }

  async send(line: string): Promise<void> {
    if (!this.#writer) throw new Error(`${this.name} was started without a piped stdin`);
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** `signal`, then SIGKILL if it is still there after `graceMs`. */
  override async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
    await this.#writer?.close().catch(() => {});
    return await super.stop(signal, graceMs);
  }

  describe(): string {
    return `--- ${this.name} (last lines) ---\n${this.#tail.slice(-40).join("\n")}`;
  }
}

/** Stop every child still running (on success, failure or a signal). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((each) => each instanceof Proc ? each.stop("SIGTERM", 3000) : each.stop()));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/** A short-lived command to completion, timed from spawn to exit; killed after `timeoutMs`. */
export async function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const entry = { stop: () => (kill("SIGKILL"), child.status) };
  live.add(entry);
  const timer = setTimeout(() => kill("SIGKILL"), options.timeoutMs ?? 120_000);
  try {
    const output = await child.output();
    const ms = performance.now() - started;
    const decoder = new TextDecoder();
    return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr), ms };
  } finally {
    clearTimeout(timer);
    live.delete(entry);
  }
}

/** Register a child started elsewhere (a streaming follower) so that `stopAll` reaches it; returns the release. */
export function track(child: Deno.ChildProcess): () => void {
  const entry = {
    stop: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      return child.status;
    },
  };
  live.add(entry);
  return () => live.delete(entry);
}

/** `deno run -A main.ts ARGS`: the fabric CLI from source, as a fresh process. */
export function fabric(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(Deno.execPath(), ["run", "-A", "--quiet", MAIN, ...args], options);
}
