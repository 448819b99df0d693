/** `fabric submit FILE [--wait] [--json]` */
import { formatDuration } from "../protocol/duration.ts";
import type { JobSummary } from "../protocol/mod.ts";
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { readJobFile } from "./job_input.ts";
import { escapeControls, isTty, printJson } from "./output.ts";
import { watchUntilDone } from "./watch.ts";

const USAGE = `
fabric submit FILE [--wait] [--json]

Validate a job file and submit it; prints the job id. FILE may be "-" for standard input.

  --wait   follow the job until it ends (exit 0 if every task succeeded, 1 otherwise)
  --json   print the result as JSON
${CONNECTION_HELP}

Exit codes: 0 submitted (with --wait: every task succeeded), 1 a task failed or the job was
cancelled, 2 the file or the flags are invalid, 3 the tracker cannot be reached or refused the credentials.
`;

export async function submitCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("submit", args, {
    ...CONNECTION_FLAGS,
    wait: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError("fabric submit takes one job file (see fabric submit --help)");
  }
  const file = parsed.positionals[0];
  const job = await readJobFile(file);
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    const submitted = await client.submitJob(job.raw, { source: file, files: job.files });
    if (!parsed.values.wait) {
      if (json) printJson(submitted);
      else console.log(submitted.jobId);
      return 0;
    }
    if (!json) console.error(`submitted job ${submitted.jobId} (${submitted.name}, ${submitted.tasks} task(s))`);
    const started = Date.now();
    const progress = new Progress(json ? "quiet" : isTty() ? "tty" : "lines", started);
    const final = await watchUntilDone(
      client,
      submitted.jobId,
      (s) => progress.update(s),
      (m) => progress.outage(m),
      submitted.version ?? 0,
    );
    progress.done();
    if (json) {
      printJson(await client.getJob(submitted.jobId));
    } else {
      console.log(`job ${final.id} ${final.state} in ${formatDuration(Date.now() - started)}: ${countsLine(final)}`);
      // The failed tasks are listed; a job without any needs no second look.
      const detail = final.counts.failed > 0 ? await client.getJob(submitted.jobId) : { tasks: [] };
      const failed = detail.tasks.filter((t) => t.state === "failed");
      for (const task of failed.slice(0, 20)) {
        const why = task.exitCode !== null ? `exit code ${task.exitCode}` : task.reason ?? "failed";
        console.log(escapeControls(`  ${task.id} ${task.name}: ${why} (fabric logs ${task.id})`));
      }
      if (failed.length > 20) console.log(`  … and ${failed.length - 20} more failed task(s)`);
    }
    return final.state === "succeeded" ? 0 : 1;
  } finally {
    client.close();
  }
}

export function countsLine(job: JobSummary): string {
  const c = job.counts;
  const parts = [`${c.succeeded}/${job.total} succeeded`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.running) parts.push(`${c.running} running`);
  if (c.assigned) parts.push(`${c.assigned} starting`);
  if (c.queued) parts.push(`${c.queued} queued`);
  if (c.lost) parts.push(`${c.lost} lost`);
  return parts.join(", ");
}

/** A redrawn line on a terminal; a line per change (at most twice a second) elsewhere. */
class Progress {
  #mode: "tty" | "lines" | "quiet";
  #started: number;
  #lastLine = "";
  #lastPrinted = 0;
  #pending: JobSummary | null = null;

  constructor(mode: "tty" | "lines" | "quiet", started: number) {
    this.#mode = mode;
    this.#started = started;
  }

  update(job: JobSummary): void {
    if (this.#mode === "quiet") return;
    const line = `${job.state} ${countsLine(job)} (${formatDuration(Date.now() - this.#started)})`;
    if (this.#mode === "tty") {
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
      this.#lastLine = line;
      return;
    }
    this.#pending = job;
    if (Date.now() - this.#lastPrinted >= 500 || job.state !== "running") this.#printPending();
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

  outage(message: string | null): void {
    if (this.#mode === "quiet") return;
    if (this.#mode === "tty") Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    console.error(message === null ? "the tracker is back" : escapeControls(`${message}; retrying`));
  }

  done(): void {
    if (this.#mode === "tty" && this.#lastLine) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    if (this.#mode === "lines") this.#printPending();
  }
}
