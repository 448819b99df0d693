/** The run file the tasks append to, turned into executions with their start and last sign of life. */
import type { Run, RunLine } from "./model.ts";

/** Lines of the run file; malformed ones (there should be none) are returned apart. */
export function parseRunLines(text: string): { lines: RunLine[]; malformed: string[] } {
  const lines: RunLine[] = [];
  const malformed: string[] = [];
  for (const raw of text.split("\n")) {
    const text = raw.trim();
    if (!text) continue;
    const [type, taskId, attempt, agent, at, run, status] = text.split(/\s+/);
    const valid = (type === "start" || type === "tick" || type === "end") && taskId && /^\d+$/.test(attempt) &&
      agent && /^\d{13}$/.test(at) && run && (type !== "end" || status === "ok" || status === "fail");
    if (!valid) {
      malformed.push(text);
      continue;
    }
    lines.push({
      type,
      taskId,
      attempt: Number(attempt),
      agent,
      at: Number(at),
      run,
      status: type === "end" ? status as "ok" | "fail" : null,
    });
  }
  return { lines, malformed };
}

/** One run per execution (start line), with its ticks and end folded in. */
export function buildRuns(lines: readonly RunLine[]): Run[] {
  const runs = new Map<string, Run>();
  for (const line of lines) {
    const id = `${line.taskId}#${line.attempt}#${line.run}`;
    let run = runs.get(id);
    if (!run) {
      // A tick or end whose start line is missing still proves the run; it starts at its first line.
      run = {
        id,
        taskId: line.taskId,
        attempt: line.attempt,
        agent: line.agent,
        start: line.at,
        lastSeen: line.at,
        end: null,
        status: null,
      };
      runs.set(id, run);
    }
    run.start = Math.min(run.start, line.at);
    run.lastSeen = Math.max(run.lastSeen, line.at);
    if (line.type === "end") {
      run.end = line.at;
      run.status = line.status;
    }
  }
  return [...runs.values()].sort((a, b) => a.start - b.start);
}

export function runsByTask(runs: readonly Run[]): Map<string, Run[]> {
  const byTask = new Map<string, Run[]>();
  for (const run of runs) {
    const list = byTask.get(run.taskId) ?? [];
    list.push(run);
    byTask.set(run.taskId, list);
  }
  return byTask;
}

/** Agents running, at `now`, a run that has lasted `minMs` and still ticks: where a fault hurts most. */
export function agentsWithLongRuns(runs: readonly Run[], now: number, minMs = 800): string[] {
  const alive = runs.filter((r) => r.end === null && now - r.start >= minMs && now - r.lastSeen <= 600);
  return [...new Set(alive.map((r) => r.agent))];
}
