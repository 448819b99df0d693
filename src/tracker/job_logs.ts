/**
 * `GET /v1/jobs/:id/logs`: the output of a job's tasks in one stream (each task's current attempt,
 * task after task, each chunk naming its task), so that `fabric logs JOB` of 5,000 tasks is one
 * request, not 5,000. Tasks are read a page at a time and each log in pages: a job of a million
 * tasks costs memory for a page.
 */
import { type JobLogLine, taskNameMatcher, type TaskState } from "../protocol/mod.ts";
import { getJobPage, readLogs } from "./queries.ts";
import type { Tracker } from "./tracker.ts";

const TASK_PAGE = 200;

export interface JobLogOptions {
  /** Only tasks in this state. */
  state?: TaskState;
  /** Only tasks whose name matches this glob (`*`, `?`). */
  task?: string;
}

export async function* readJobLogs(
  tracker: Tracker,
  jobId: string,
  options: JobLogOptions,
): AsyncGenerator<JobLogLine> {
  const matches = options.task === undefined ? () => true : taskNameMatcher(options.task);
  for (let offset = 0;; offset += TASK_PAGE) {
    const page = await getJobPage(tracker, jobId, { state: options.state, offset, limit: TASK_PAGE });
    for (const task of page.tasks) {
      if (!matches(task.name) || task.startedAt === null) continue;
      for await (const line of readLogs(tracker, task.id, { attempt: task.attempt, follow: false })) {
        if (line.type === "chunk") yield { type: "chunk", taskId: task.id, task: task.name, chunk: line.chunk };
      }
    }
    if (page.tasks.length < TASK_PAGE) return;
  }
}
