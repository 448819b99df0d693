/** Why a task has not started (or why it ended), for `status`. */
import type { TaskEntry } from "./entries.ts";

export function waitReason(task: TaskEntry): string | null {
  if (task.record.state !== "queued") return task.record.reason;
  if (task.record.retryAt !== null) {
    return `${task.record.reason ?? "retrying"}; next attempt after ${new Date(task.record.retryAt).toISOString()}`;
  }
  if (task.template.waitingOn.size > 0) {
    return `waiting for ${[...task.template.waitingOn].map((t) => `"${t.name}"`).join(", ")}`;
  }
  return task.template.blockedReason ?? task.record.reason;
}
