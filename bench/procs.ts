/**
 * Child processes of the bench, each registered until it has exited, so that a failure or Ctrl-C
 * still stops everything it started (`stopAll`). Output is kept only as a short tail: a tracker
 * registering ten thousand agents logs ten thousand lines.
 */

export const MAIN = new URL("../main.ts", import.meta.url).pathname;
export const REPO = new URL("../", import.meta.url).pathname;

const TAIL_LINES = 200;
/** Everything started and not yet exited: what `stopAll` stops. */
const live = new Set<{ stop(): Promise<unknown> }>();

export interface ProcOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** "piped" to send lines with `send` (the simulator's control channel). */
  stdin?: "piped" | "null";
  /** Called with every line of stdout and stderr. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A long-running child: its pid, the tail of its output, lines waited for, and a stop that escalates. */
export class Proc {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  readonly exited: Promise<Deno.CommandStatus>;
  #tail: string[] = [];
  #waiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #onLine?: ProcOptions["onLine"];

  constructor(name: string, command: string, args: string[], options: ProcOptions = {}) {
    this.name = name;
    this.#onLine = options.onLine;
    this.child = new Deno.Command(command, {
      args,
      env: options.env,
      cwd: options.cwd ?? REPO,
      stdin: options.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    live.add(this);
    if (options.stdin === "piped") this.#writer = this.child.stdin.getWriter();
    const pumps = Promise.all([this.#pump(this.child.stdout, "stdout"), this.#pump(this.child.stderr, "stderr")]);
    this.exited = pumps.then(() => this.child.status).finally(() => live.delete(this));
  }

  async #pump(stream: ReadableStream<Uint8Array>, which: "stdout" | "stderr"): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop()!;
      for (const line of lines) this.#line(line, which);
    }
    if (rest) this.#line(rest, which);
  }

  #line(line: string, which: "stdout" | "stderr"): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
    this.#onLine?.(line, which);
    for (const waiter of [...this.#waiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The first later line matching `pattern` (or one already in the tail); rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const line of this.#tail) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.pattern !== pattern);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
      this.exited.then((status) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${status.code}) before printing ${pattern}\n${this.describe()}`));
      });
      this.#waiters.push({
        pattern,
        resolve: (match) => {
          clearTimeout(timer);
          resolve(match);
        },
      });
    });
  }

  async send(line: string): Promise<void> {
    if (!this.#writer) throw new Error(`${this.name} was started without a piped stdin`);
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }

  /** `signal`, then SIGKILL if it is still there after `graceMs`. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
    await this.#writer?.close().catch(() => {});
    this.kill(signal);
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
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
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    env: options.env,
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
