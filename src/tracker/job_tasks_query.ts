/**
 * `GET /v1/jobs/:id?state=S&name=GLOB&offset=N&limit=N`: a job and the tasks that match, a page of
 * them (`fabric status JOB --state failed`, and the default view of a large job, which asks for
 * counts and the tasks that need attention instead of 5,000 rows). Tasks are read a page at a time,
 * from memory or the store, so a job of a million tasks never costs more than a page at once.
 */
import { type JobDetail, type JobTasksPage, taskNameMatcher, type TaskState, type TaskView } from "../protocol/mod.ts";
import { getJobPage } from "./queries.ts";
import { Slices } from "./slices.ts";
import type { Tracker } from "./tracker.ts";

const READ_PAGE = 5_000;
export const MAX_TASKS_PAGE = 10_000;

export interface JobTasksQuery {
  state?: TaskState;
  /** A glob over task names (`*`, `?`). */
  name?: string;
  offset: number;
  limit: number;
}

/**
 * The job, with `tasks` the matching ones from `offset`, at most `limit`, and `matched`: how many
 * match in all (from the job's counts), or, with a name, at least how many (the read stops once the
 * page is full, and `more` says whether it stopped early).
 */
export async function queryJobTasks(
  tracker: Tracker,
  jobId: string,
  query: JobTasksQuery,
): Promise<JobTasksPage> {
  if (query.name === undefined) {
    const page = await getJobPage(tracker, jobId, query);
    const matched = query.state === undefined ? page.job.total : page.job.counts[query.state];
    return { ...page.job, tasks: page.tasks, matched, more: query.offset + page.tasks.length < matched };
  }
  const matches = taskNameMatcher(query.name);
  const tasks: TaskView[] = [];
  let matched = 0;
  let summary: JobDetail | null = null;
  const slices = new Slices();
  for (let offset = 0;; offset += READ_PAGE) {
    // A turn of the event loop between pages once a slice is spent (slices.ts): a million tasks read
    // from memory never await anything. Each page is taken whole, and each task in it as it was then.
    if (slices.spent()) await slices.next();
    const page = await getJobPage(tracker, jobId, { state: query.state, offset, limit: READ_PAGE });
    summary ??= { ...page.job, tasks: [] };
    for (const task of page.tasks) {
      if (!matches(task.name)) continue;
      if (tasks.length === query.limit) return { ...summary, tasks, matched, more: true };
      if (matched >= query.offset) tasks.push(task);
      matched++;
    }
    if (page.tasks.length < READ_PAGE) return { ...summary, tasks, matched, more: false };
  }
}
