/**
 * The copies of a `fabric run` job, one per agent (or one in all): their output with each line
 * prefixed by the agent's name (as pdsh does), the worst exit code among them, and one record per
 * copy for `--json`. Shared by `fabric run` and `fabric results`.
 */
import type { FabricClient } from "../client/mod.ts";
import type { TaskView } from "../protocol/mod.ts";
import { isTerminalTask } from "../protocol/task.ts";
import { escapeControls } from "./output.ts";

/** One page of a job's tasks at a time: `--all` on a large fleet is many copies. */
const PAGE = 500;
/** Copies followed at once; the others are followed as these end. */
export const MAX_FOLLOWED = 32;

/** Every task of the job, a page at a time. */
export async function listCopies(client: FabricClient, jobId: string): Promise<TaskView[]> {
  const copies: TaskView[] = [];
  for (let offset = 0;; offset += PAGE) {
    const page = await client.getJobTasks(jobId, { offset, limit: PAGE });
    copies.push(...page.tasks);
    if (page.tasks.length < PAGE) return copies;
  }
}

/** The agent a copy is pinned to (`select: all` names it `TASK@AGENT`), else the one it ran on, if any. */
function copyAgent(task: TaskView): string | null {
  const at = task.name.lastIndexOf("@");
  return at >= 0 ? task.name.slice(at + 1) : task.agent;
}

/** Who a copy is, for its prefix: its agent, else its task id. */
export function copyLabel(task: TaskView): string {
  return escapeControls(copyAgent(task) ?? task.id);
}

/**
 * A copy's exit code as a shell would give it: its own, 128 + the signal's number when killed, 124
 * when it timed out (as timeout(1)), 1 when it never ran or ended otherwise; 0 only for succeeded.
 */
export function copyExitCode(task: TaskView): number {
  if (task.state === "succeeded") return 0;
  if (task.exitCode !== null) return task.exitCode === 0 ? 1 : task.exitCode;
  if (task.signal !== null) return 128 + (SIGNALS[task.signal] ?? 0);
  if (task.reason?.includes("timed out")) return 124;
  return 1;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };

/** The worst exit code among the copies that ended (0 when none failed). */
export function worstExitCode(copies: readonly TaskView[]): number {
  return copies.filter((t) => isTerminalTask(t.state)).reduce((worst, t) => Math.max(worst, copyExitCode(t)), 0);
}

/** How a copy that did not succeed ended, in words. */
export function copyOutcome(task: TaskView): string {
  const how = task.exitCode !== null
    ? `exit code ${task.exitCode}`
    : task.signal !== null
    ? task.signal
    : task.reason ?? task.state;
  return escapeControls(`${task.state}: ${how}`);
}

/**
 * Output written a line at a time, each line prefixed with its copy's label: a line in pieces is held
 * until its end (or `flush`), so that two copies' lines never mix within one line.
 */
export class PrefixedOutput {
  #partial = { stdout: "", stderr: "" };
  #out: Record<"stdout" | "stderr", (text: string) => Promise<void>>;

  constructor(readonly label: string, out?: Record<"stdout" | "stderr", (text: string) => Promise<void>>) {
    this.#out = out ?? { stdout: (t) => writeAll(Deno.stdout, t), stderr: (t) => writeAll(Deno.stderr, t) };
  }

  async write(stream: "stdout" | "stderr", data: string): Promise<void> {
    const text = this.#partial[stream] + data;
    const end = text.lastIndexOf("\n");
    if (end < 0) {
      this.#partial[stream] = text;
      return;
    }
    this.#partial[stream] = text.slice(end + 1);
    const lines = text.slice(0, end).split("\n").map((line) => `${this.label}: ${line}\n`);
    await this.#out[stream](lines.join(""));
  }

  async flush(): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partial[stream]) await this.write(stream, "\n");
    }
  }
}

/** A copy's output as it runs, across its retries, until its last attempt ends. */
export async function followCopy(client: FabricClient, task: TaskView, out: PrefixedOutput): Promise<void> {
  let attempt = Math.max(1, task.attempt);
  for (let rounds = 0; rounds < 1000; rounds++) {
    let ended: number | null = null;
    for await (const line of client.logs(task.id, { attempt, follow: true })) {
      if (line.type === "end") ended = line.attempt;
      else await out.write(line.chunk.stream, line.chunk.data);
    }
    // The stream ended without its end (a tracker stopping): what was missed is in `fabric logs`.
    if (ended === null) break;
    const now = await client.getTask(task.id);
    if (isTerminalTask(now.state) && now.attempt <= ended) break;
    attempt = ended + 1;
  }
  await out.flush();
}

/** Copies followed as they start, at most MAX_FOLLOWED at once; the rest wait their turn. */
export class FollowPool {
  #seen = new Set<string>();
  #waiting: TaskView[] = [];
  #active = 0;
  #running: Promise<void>[] = [];

  constructor(private client: FabricClient, private limit = MAX_FOLLOWED) {}

  /** Copies as last listed: those that started and are not followed yet will be. */
  offer(copies: readonly TaskView[]): void {
    for (const task of copies) {
      if (task.startedAt === null || this.#seen.has(task.id)) continue;
      this.#seen.add(task.id);
      this.#waiting.push(task);
    }
    this.#pump();
  }

  /** Resolves once every copy offered has been followed to its end. */
  async drain(): Promise<void> {
    for (let rounds = 0; (this.#waiting.length > 0 || this.#active > 0) && rounds < 1_000_000; rounds++) {
      await Promise.all(this.#running);
    }
  }

  #pump(): void {
    while (this.#active < this.limit && this.#waiting.length > 0) {
      const task = this.#waiting.shift()!;
      this.#active++;
      const done = followCopy(this.client, task, new PrefixedOutput(copyLabel(task)))
        .catch((error) => console.error(`[fabric] ${copyLabel(task)}: ${escapeControls((error as Error).message)}`))
        .finally(() => {
          this.#active--;
          this.#running = this.#running.filter((p) => p !== done);
          this.#pump();
        });
      this.#running.push(done);
    }
  }
}

/** A copy's stored output (its latest attempt's), chunk by chunk; none for a copy that never started. */
async function* storedOutput(client: FabricClient, task: TaskView) {
  if (task.startedAt === null) return;
  for await (const line of client.logs(task.id, { attempt: task.attempt })) {
    if (line.type === "chunk") yield line.chunk;
  }
}

/** Every copy's stored output, prefixed: what `fabric results` prints of the copies that ended. */
export async function printCopyOutput(client: FabricClient, task: TaskView): Promise<void> {
  const out = new PrefixedOutput(copyLabel(task));
  for await (const chunk of storedOutput(client, task)) await out.write(chunk.stream, chunk.data);
  await out.flush();
}

/** A copy for `--json`: who, how it ended, and its output. */
export async function copyRecord(client: FabricClient, task: TaskView) {
  const output = { stdout: "", stderr: "" };
  for await (const chunk of storedOutput(client, task)) output[chunk.stream] += chunk.data;
  return {
    agent: copyAgent(task),
    taskId: task.id,
    state: task.state,
    exitCode: isTerminalTask(task.state) ? copyExitCode(task) : null,
    signal: task.signal,
    reason: task.reason,
    durationMs: task.durationMs,
    ...output,
  };
}

const encoder = new TextEncoder();

async function writeAll(out: { write(p: Uint8Array): Promise<number> }, text: string): Promise<void> {
  const data = encoder.encode(text);
  let written = 0;
  while (written < data.length) written += await out.write(data.subarray(written));
}
