/** What `submit --wait` shows while it follows a job: its counts, tracker outages, and why tasks wait. */
import { formatDuration } from "../protocol/duration.ts";
import type { JobSummary, WaitingNote } from "../protocol/mod.ts";
import { escapeControls } from "./output.ts";

export function countsLine(job: JobSummary): string {
  const c = job.counts;
  const parts = [`${c.succeeded}/${job.total} succeeded`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.running) parts.push(`${c.running} running`);
  if (c.assigned) parts.push(`${c.assigned} starting`);
  if (c.queued) parts.push(`${c.queued} queued`);
  if (c.lost) parts.push(`${c.lost} lost`);
  return parts.join(", ");
}

/** The lines for one reason tasks wait (a hint indented under it). */
export function describeWaiting(note: WaitingNote, waitedMs: number, giveUp: boolean): string[] {
  const example = `${note.example.id} ${JSON.stringify(note.example.name)}`;
  const which = note.tasks === 1 ? `task ${example}` : `${note.tasks} tasks (e.g. ${example})`;
  if (!note.noAgent) return [`waiting ${roundDuration(waitedMs)}: ${which}: ${note.reason}`];
  const lines = [`no current agent can run ${which}: ${note.reason}`];
  if (note.hint) lines.push(`  hint: ${note.hint}`);
  lines.push(`  it waits for an agent that can${giveUp ? "" : " (--timeout DURATION gives up)"}`);
  return lines;
}

function roundDuration(ms: number): string {
  return formatDuration(ms).replace(/\.\d+s$/, "s");
}

/**
 * A redrawn line on a terminal; a line per change (at most twice a second) elsewhere; nothing of
 * the counts with --json. Why tasks wait is said in every mode (on stderr), whenever it changes.
 */
export class Progress {
  #mode: "tty" | "lines" | "quiet";
  #started: number;
  #giveUp: boolean;
  #lastLine = "";
  #lastPrinted = 0;
  #pending: JobSummary | null = null;
  #waitingKey = "";
  /** On a terminal the elapsed time moves between changes: the line is drawn again each second. */
  #ticker: ReturnType<typeof setInterval> | undefined;
  #latest: JobSummary | null = null;

  constructor(mode: "tty" | "lines" | "quiet", started: number, options: { giveUp: boolean }) {
    this.#mode = mode;
    this.#started = started;
    this.#giveUp = options.giveUp;
    if (mode === "tty") {
      this.#ticker = setInterval(() => this.#latest && this.#draw(this.#latest), 1000);
      Deno.unrefTimer(this.#ticker);
    }
  }

  update(job: JobSummary): void {
    if (this.#mode === "quiet") return;
    if (this.#mode === "tty") {
      this.#latest = job;
      this.#draw(job);
      return;
    }
    this.#pending = job;
    if (Date.now() - this.#lastPrinted >= 500 || job.state !== "running") this.#printPending();
  }

  #draw(job: JobSummary): void {
    const line = `${job.state} ${countsLine(job)} (${roundDuration(Date.now() - this.#started)})`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
    this.#lastLine = line;
  }

  #printPending(): void {
    if (!this.#pending) return;
    const line = `${this.#pending.state}: ${countsLine(this.#pending)}`;
    this.#pending = null;
    if (line === this.#lastLine) return;
    console.error(line);
    this.#lastLine = line;
    this.#lastPrinted = Date.now();
  }

  /** Said again only when the reasons change (not their counts); nothing once no task waits. */
  waiting(notes: WaitingNote[]): void {
    const key = notes.map((n) => `${n.noAgent} ${n.reason}`).join("\n");
    if (key === this.#waitingKey) return;
    this.#waitingKey = key;
    if (notes.length === 0) return;
    this.#printAbove(notes.flatMap((note) => describeWaiting(note, Date.now() - this.#started, this.#giveUp)));
  }

  outage(message: string | null): void {
    if (this.#mode === "quiet") return;
    this.#printAbove([message === null ? "the tracker is back" : `${message}; retrying`]);
  }

  /** Lines above a terminal's progress line, which is drawn again under them. */
  #printAbove(lines: string[]): void {
    if (this.#mode === "tty") Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    // Reasons and names come from job files and agents' labels: never raw escapes on a terminal.
    for (const line of lines) console.error(escapeControls(line));
    if (this.#mode === "tty" && this.#lastLine) Deno.stderr.writeSync(new TextEncoder().encode(this.#lastLine));
  }

  done(): void {
    clearInterval(this.#ticker);
    if (this.#mode === "tty" && this.#lastLine) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    if (this.#mode === "lines") this.#printPending();
  }
}
