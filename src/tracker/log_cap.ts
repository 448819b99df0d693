/**
 * What one job may store of its tasks' output (`--max-job-logs`): past it, a task's further output is
 * dropped and the task goes on; its log says where, with a marker in place of the first chunk dropped
 * (each attempt of each task that loses output gets one). Bytes are counted as stored, in UTF-8.
 */
import { Buffer } from "node:buffer";
import { formatSize, type LogChunkData, utf8Length } from "../protocol/mod.ts";
import type { TaskEntry } from "./entries.ts";
import type { TrackerMetrics } from "./metrics/mod.ts";

export interface LogCap {
  /** Bytes of output one job may store; Infinity: no cap. */
  maxJobBytes: number;
  metrics: TrackerMetrics;
}

/** The default --max-job-logs. */
export const DEFAULT_MAX_JOB_LOGS = 1024 ** 3;

/** The chunks of `task`'s `attempt` to store: all of them (the same array) while the job is within its cap. */
export function keptOutput(task: TaskEntry, attempt: number, chunks: LogChunkData[], cap: LogCap): LogChunkData[] {
  const job = task.job;
  const { metrics, maxJobBytes } = cap;
  if (job.logsCut?.get(task) === attempt) {
    for (const chunk of chunks) metrics.logBytesDropped.inc(byteLength(chunk.data));
    return [];
  }
  for (let i = 0; i < chunks.length; i++) {
    const bytes = byteLength(chunks[i].data);
    if (job.logBytes + bytes <= maxJobBytes) {
      job.logBytes += bytes;
      metrics.logBytes.inc(bytes);
      continue;
    }
    (job.logsCut ??= new Map()).set(task, attempt);
    const marker: LogChunkData = {
      seq: chunks[i].seq,
      stream: "stderr",
      data: `[fabric: output dropped from here on: job ${job.record.id} has stored ${
        formatSize(job.logBytes)
      } of output, its --max-job-logs of ${formatSize(maxJobBytes)} on this tracker; the task goes on]\n`,
    };
    for (let j = i; j < chunks.length; j++) metrics.logBytesDropped.inc(byteLength(chunks[j].data));
    const markerBytes = byteLength(marker.data);
    job.logBytes += markerBytes;
    metrics.logBytes.inc(markerBytes);
    return [...chunks.slice(0, i), marker];
  }
  return chunks;
}

/** UTF-8 bytes of `text`: counted in JavaScript when short (a call to Buffer costs more), natively when long. */
export function byteLength(text: string): number {
  return text.length <= 512 ? utf8Length(text) : Buffer.byteLength(text, "utf8");
}
