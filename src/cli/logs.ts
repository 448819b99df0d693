/** `fabric logs TASK [--follow]` and `fabric logs JOB` */
import { TrackerUnreachableError } from "../client/mod.ts";
import type { FabricClient } from "../client/mod.ts";
import type { AttemptView, LogLine, TaskState } from "../protocol/mod.ts";
import { isTerminalTask, TASK_STATES } from "../protocol/task.ts";
import { intFlag, type Parsed, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls } from "./output.ts";

const USAGE = `
fabric logs TASK [--follow] [--attempt N] [--stderr-only | --stdout-only] [--json]
fabric logs JOB [--task GLOB] [--state STATE] [--json]

A task's output in order (stdout and stderr interleaved as they were produced). Shows the current
attempt unless --attempt is given. With a job id: the output of every task of the job (each task's
current attempt), each line prefixed with the task's name, in one request.

  -f, --follow    stream the output live until the task ends: across its retries (a line on stderr
                  between attempts) and a tracker restart (it resumes after the last line printed);
                  exits 0 if the task succeeded, 1 if it failed or was cancelled or skipped
  --attempt N     another attempt of the task (with --follow: only that attempt)
  --stdout-only   only standard output
  --stderr-only   only standard error
  --task GLOB     (a job) only tasks whose name matches, e.g. 'test[*]' or 'build*' (* and ?)
  --state STATE   (a job) only tasks in this state, e.g. failed
  --json          NDJSON: each line of the API as it came (chunks with their attempt and time)
${CONNECTION_HELP}
`;

/** How long a followed log waits for a tracker that went away before giving up. */
const RESUME_FOR_MS = 10 * 60_000;

export async function logsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("logs", args, {
    ...CONNECTION_FLAGS,
    follow: { type: "boolean", short: "f" },
    attempt: { type: "string" },
    "stdout-only": { type: "boolean" },
    "stderr-only": { type: "boolean" },
    task: { type: "string" },
    state: { type: "string" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      "fabric logs takes one task or job id, e.g. fabric logs k3f9x2m4qa.0 or fabric logs k3f9x2m4qa",
    );
  }
  const id = parsed.positionals[0];
  const only = parsed.values["stdout-only"] ? "stdout" : parsed.values["stderr-only"] ? "stderr" : null;
  const json = parsed.values.json === true;
  const isJob = !id.includes(".");
  if (isJob && (parsed.values.follow || parsed.values.attempt !== undefined)) {
    throw new UsageError("--follow and --attempt take a task id (JOB.N); fabric logs JOB prints each task's output");
  }
  if (!isJob && (parsed.values.task !== undefined || parsed.values.state !== undefined)) {
    throw new UsageError("--task and --state take a job id: fabric logs JOB --state failed");
  }
  const client = await connect(parsed);
  try {
    if (isJob) return await printJobLogs(client, id, parsed, { only, json });
    return await printTaskLogs(client, id, parsed, { only, json });
  } finally {
    client.close();
  }
}

interface Show {
  only: "stdout" | "stderr" | null;
  json: boolean;
}

async function printTaskLogs(client: FabricClient, taskId: string, parsed: Parsed, show: Show): Promise<number> {
  const follow = parsed.values.follow === true;
  const pinned = intFlag(parsed, "attempt", 1, 1_000_000);
  let attempt = pinned;
  let after = -1;
  let away: number | null = null;
  for (;;) {
    let end: Extract<LogLine, { type: "end" }> | null = null;
    try {
      for await (const line of client.logs(taskId, { attempt, after: after >= 0 ? after : undefined, follow })) {
        if (away !== null) {
          console.error("[fabric] the tracker is back: following on");
          away = null;
        }
        if (show.json) await writeAll(Deno.stdout, encoder.encode(JSON.stringify(line) + "\n"));
        if (line.type === "end") {
          end = line;
          continue;
        }
        attempt = line.chunk.attempt;
        after = line.chunk.seq;
        if (!show.json) await printChunk(line.chunk.stream, line.chunk.data, show.only);
      }
    } catch (error) {
      if (!follow || !(error instanceof TrackerUnreachableError)) throw error;
      // A tracker restart: resume after the last line printed, for a while.
      const now = Date.now();
      if (away === null) {
        away = now;
        console.error(`[fabric] ${error.message}; resuming once the tracker is back`);
      } else if (now - away > RESUME_FOR_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (!follow) return EXIT.ok;
    if (end === null) {
      // The stream ended without its end line (a tracker stopping): resume, but not at once, or this
      // would ask the stopping tracker again and again until it is gone.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    const task = await client.getTask(taskId);
    const ended = task.attempts.find((a) => a.attempt === end.attempt);
    const outcome = ended ? describeAttempt(ended) : end.state;
    if (pinned !== undefined || (isTerminalTask(task.state) && task.attempt <= end.attempt)) {
      return task.state === "succeeded" || (pinned !== undefined && ended?.state === "succeeded")
        ? EXIT.ok
        : EXIT.failed;
    }
    if (!show.json) console.error(`[fabric] attempt ${end.attempt} ${outcome}; following attempt ${end.attempt + 1}`);
    attempt = end.attempt + 1;
    after = -1;
  }
}

async function printJobLogs(client: FabricClient, jobId: string, parsed: Parsed, show: Show): Promise<number> {
  const state = stringFlag(parsed, "state");
  if (state !== undefined && !(TASK_STATES as readonly string[]).includes(state)) {
    throw new UsageError(`--state takes one of ${TASK_STATES.join(", ")}, got "${state}"`);
  }
  const task = stringFlag(parsed, "task");
  // Lines of a task's output may come in pieces: the name goes at the start of each line only.
  let current: string | null = null;
  let atLineStart = { stdout: true, stderr: true };
  for await (const line of client.jobLogs(jobId, { state: state as TaskState | undefined, task })) {
    if (show.json) {
      await writeAll(Deno.stdout, encoder.encode(JSON.stringify(line) + "\n"));
      continue;
    }
    const stream = line.chunk.stream;
    if (show.only && stream !== show.only) continue;
    if (line.taskId !== current) {
      for (const s of ["stdout", "stderr"] as const) if (!atLineStart[s]) await printChunk(s, "\n", null);
      current = line.taskId;
      atLineStart = { stdout: true, stderr: true };
    }
    const prefix = `[${escapeControls(line.task)}] `;
    const text = line.chunk.data;
    let out = "";
    for (let i = 0; i < text.length;) {
      const newline = text.indexOf("\n", i);
      const end = newline < 0 ? text.length : newline + 1;
      if (atLineStart[stream]) out += prefix;
      out += text.slice(i, end);
      atLineStart[stream] = newline >= 0;
      i = end;
    }
    await printChunk(stream, out, null);
  }
  for (const s of ["stdout", "stderr"] as const) if (!atLineStart[s]) await printChunk(s, "\n", null);
  return EXIT.ok;
}

function describeAttempt(attempt: AttemptView): string {
  const how = attempt.exitCode !== null
    ? `, exit code ${attempt.exitCode}`
    : attempt.signal !== null
    ? `, ${attempt.signal}`
    : attempt.reason
    ? `: ${attempt.reason}`
    : "";
  return `ended ${attempt.state}${escapeControls(how)}`;
}

const encoder = new TextEncoder();

async function printChunk(stream: "stdout" | "stderr", data: string, only: Show["only"]): Promise<void> {
  if (only && stream !== only) return;
  const out = stream === "stderr" && !only ? Deno.stderr : Deno.stdout;
  await writeAll(out, encoder.encode(data));
}

async function writeAll(out: { write(p: Uint8Array): Promise<number> }, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await out.write(data.subarray(written));
}
