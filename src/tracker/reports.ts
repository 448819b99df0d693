/** An agent's report, applied in order: each event of a current attempt moves its task on; the rest are stale. */
import { type ArtifactRef, attemptKey, type AttemptRef, isTerminalTask, type TaskEvent } from "../protocol/mod.ts";
import { type AgentEntry, keepRecentLogs } from "./entries.ts";
import { keptOutput, type LogCap } from "./log_cap.ts";
import type { FabricState } from "./state.ts";
import type { StoreWriter } from "./store_writer.ts";
import type { TaskLifecycle } from "./task_lifecycle.ts";
import type { ReportedArtifacts } from "./blobs.ts";

export interface ReportContext {
  state: FabricState;
  tasks: TaskLifecycle;
  writer: StoreWriter;
  logCap: LogCap;
  /** What the store kept of the artifacts of the attempts these events finish, by task id (none when absent). */
  kept: ReadonlyMap<string, ArtifactRef[]>;
}

/** The artifacts of the current attempts that `events` of `agentId` finish (blobs.ts keeps them first). */
export function reportedArtifacts(state: FabricState, agentId: string, events: TaskEvent[]): ReportedArtifacts[] {
  const reported: ReportedArtifacts[] = [];
  for (const event of events) {
    if (event.type !== "finished" || !event.artifacts?.length) continue;
    const task = state.tasks.get(event.taskId);
    if (!task || task.record.attempt !== event.attempt || task.attempt?.agentId !== agentId) continue;
    reported.push({
      jobId: task.job.record.id,
      taskId: event.taskId,
      attempt: event.attempt,
      artifacts: event.artifacts,
    });
  }
  return reported;
}

/** Apply `events` of `agent`; returns the attempts they named that are not current (each once). */
export function applyReport(agent: AgentEntry, events: TaskEvent[], context: ReportContext): AttemptRef[] {
  const { state, tasks, writer } = context;
  const stale: AttemptRef[] = [];
  const staleKeys = new Set<string>();
  for (const event of events) {
    const task = state.tasks.get(event.taskId);
    const current = task && task.record.attempt === event.attempt && task.attempt?.agentId === agent.record.id;
    if (!current) {
      const key = attemptKey(event);
      if (!staleKeys.has(key)) {
        staleKeys.add(key);
        stale.push({ taskId: event.taskId, attempt: event.attempt });
      }
      continue;
    }
    if (isTerminalTask(task.record.state)) continue; // a report delivered twice
    switch (event.type) {
      case "started":
        tasks.start(task, event.at);
        break;
      case "output": {
        const chunks = keptOutput(task, event.attempt, event.chunks, context.logCap);
        if (chunks.length === 0) break;
        const rows = chunks.map((chunk) => ({
          taskId: task.record.id,
          attempt: event.attempt,
          at: event.at,
          ...chunk,
        }));
        for (const row of rows) writer.log(row);
        if (task.changed) {
          const changed = task.changed;
          writer.afterCommit(() => {
            keepRecentLogs(task, rows);
            changed.notify();
          });
        }
        break;
      }
      case "finished":
        // Kept on the task for those that need its artifacts (artifact_inputs.ts), before it ends.
        task.artifacts = context.kept.get(event.taskId) ?? [];
        tasks.finish(task, event);
        break;
      case "released":
        if (event.how === "lost") tasks.lose(task, `agent ${agent.record.name}: ${event.reason}`);
        else tasks.handBack(task, `handed back by agent ${agent.record.name}: ${event.reason}`);
        break;
    }
  }
  return stale;
}
