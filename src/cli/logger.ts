import { escapeControls } from "./output.ts";

/**
 * Daemon logs: one line per event on stderr, with the time and the role (names and reasons escaped).
 * Written without blocking: a write to a pipe whose reader lags (a log collector, a parent process busy
 * elsewhere) blocks a synchronous writer, and with it the whole daemon (measured: two trackers stopped
 * in `anon_pipe_write` for seconds at a time while 10,000 agents registered, their listen queues full).
 * Lines wait in a bounded queue instead; past it they are dropped, and the log says how many.
 */
export function daemonLog(role: string): (message: string) => void {
  return (message) =>
    stderrLog.line(`${new Date().toISOString()} ${role}: ${escapeControls(message, { keepNewlines: true })}`);
}

/** What the daemon log holds back at most while stderr's reader lags. */
export const MAX_QUEUED_LOG_BYTES = 4 * 1024 * 1024;

/** Lines for a writer, written in order, one write at a time, never blocking their caller. */
export class QueuedLog {
  #write: (bytes: Uint8Array) => Promise<number>;
  #maxBytes: number;
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #dropped = 0;
  #writing: Promise<void> | null = null;
  #encoder = new TextEncoder();

  constructor(write: (bytes: Uint8Array) => Promise<number>, maxBytes = MAX_QUEUED_LOG_BYTES) {
    this.#write = write;
    this.#maxBytes = maxBytes;
  }

  line(text: string): void {
    const bytes = this.#encoder.encode(text + "\n");
    if (this.#bytes + bytes.length > this.#maxBytes) {
      this.#dropped++;
      return;
    }
    this.#queue.push(bytes);
    this.#bytes += bytes.length;
    this.#writing ??= this.#drain();
  }

  /** Resolves once what is queued now is written (or after `timeoutMs`, whatever is left). */
  async flushed(timeoutMs = 2000): Promise<void> {
    if (!this.#writing) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#writing, new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs))]);
    clearTimeout(timer);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const lines = this.#queue;
        this.#queue = [];
        const chunk = new Uint8Array(lines.reduce((n, l) => n + l.length, 0));
        let at = 0;
        for (const line of lines) {
          chunk.set(line, at);
          at += line.length;
        }
        for (let written = 0; written < chunk.length;) written += await this.#write(chunk.subarray(written));
        this.#bytes -= chunk.length;
        if (this.#dropped > 0 && this.#queue.length === 0) {
          const notice = `${
            new Date().toISOString()
          } log: ${this.#dropped} line(s) dropped: stderr was not read fast enough`;
          this.#dropped = 0;
          this.#queue.push(this.#encoder.encode(notice + "\n"));
        }
      }
    } catch {
      // stderr is gone (its reader closed it): there is nobody to tell.
      this.#queue = [];
      this.#bytes = 0;
    } finally {
      this.#writing = null;
    }
  }
}

const stderrLog = new QueuedLog((bytes) => Deno.stderr.write(bytes));

/** Resolves once the daemon log's lines so far are written (at most `timeoutMs`): before the process exits. */
export function flushDaemonLog(timeoutMs?: number): Promise<void> {
  return stderrLog.flushed(timeoutMs);
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}
