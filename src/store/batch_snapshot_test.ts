/** A store copies a batch it writes later than it is handed over: later changes are not in it. */
import assert from "node:assert/strict";
import { assignedAttempt, queuedJobWithTasks } from "../../testing/records.ts";
import { snapshotBatch } from "./batch_snapshot.ts";
import { emptyBatch } from "./store.ts";

function twoTaskJob(id: string) {
  return queuedJobWithTasks(id, 2);
}

Deno.test("a batch's copy keeps its jobs, tasks and attempts as they were; a large new job's tasks are not copied", () => {
  const { job, tasks: [first] } = twoTaskJob("j2");
  const attempt = assignedAttempt(first.id, "a");
  const batch = { ...emptyBatch(), jobs: [job], tasks: [first], attempts: [attempt] };
  const copy = snapshotBatch(batch);
  job.counts.queued--;
  job.counts.running++;
  first.state = "running";
  attempt.startedAt = 5;
  assert.equal(copy.jobs[0].counts.running, 0, "the job's counts as they were");
  assert.equal(copy.tasks[0].state, "queued", "the task as it was");
  assert.equal(copy.attempts[0].startedAt, null, "the attempt as it was");

  // Nothing places a large new job's tasks before their insert commits: they go as they are.
  const { job: large, tasks: largeTasks } = queuedJobWithTasks("j3", 65);
  const small = twoTaskJob("j4");
  const inserts = snapshotBatch({
    ...emptyBatch(),
    newJobs: [large, small.job],
    tasks: [...largeTasks, ...small.tasks],
  });
  assert.ok(inserts.tasks.slice(0, 65).every((record, i) => record === largeTasks[i]));
  assert.notEqual(inserts.tasks[65], small.tasks[0], "a small new job's task is a copy");
  assert.deepEqual(inserts.tasks[65], small.tasks[0]);
});
