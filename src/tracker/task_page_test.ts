import assert from "node:assert/strict";
import type { TaskState } from "../protocol/mod.ts";
import type { TaskEntry } from "./entries.ts";
import { tasksInState } from "./task_page.ts";

/** Tasks whose state is all tasksInState reads, each counting how often it was read. */
function tasks(states: TaskState[]): { tasks: TaskEntry[]; reads: () => number } {
  let reads = 0;
  const list = states.map((state, ord) => {
    const record = {
      id: `j.${ord}`,
      get state() {
        reads++;
        return state;
      },
    };
    return { record } as unknown as TaskEntry;
  });
  return { tasks: list, reads: () => reads };
}

Deno.test("a page of one state is the tasks in that state from the offset, in order", () => {
  const { tasks: all } = tasks(["queued", "running", "queued", "succeeded", "queued", "queued"]);
  const ids = (page: TaskEntry[]) => page.map((t) => t.record.id);
  assert.deepEqual(ids(tasksInState(all, "queued", 4, 0, 2)), ["j.0", "j.2"]);
  assert.deepEqual(ids(tasksInState(all, "queued", 4, 1, 2)), ["j.2", "j.4"]);
  assert.deepEqual(ids(tasksInState(all, "queued", 4, 3, 50)), ["j.5"]);
  assert.deepEqual(ids(tasksInState(all, "queued", 4, 4, 50)), []);
  assert.deepEqual(ids(tasksInState(all, "running", 1, 0, 50)), ["j.1"]);
  assert.deepEqual(ids(tasksInState(all, "failed", 0, 0, 50)), []);
});

Deno.test("a page of one state stops once full, or once every task in that state is found", () => {
  const states: TaskState[] = Array.from({ length: 100_000 }, () => "queued");
  states[10] = "running";
  const queued = tasks(states);
  assert.equal(tasksInState(queued.tasks, "queued", 99_999, 0, 50).length, 50);
  assert.equal(queued.reads(), 51); // 50 queued and the running one among them
  const running = tasks(states);
  assert.equal(tasksInState(running.tasks, "running", 1, 0, 50).length, 1);
  assert.equal(running.reads(), 11); // found at 10: the job's counts say there is no other
  const none = tasks(states);
  assert.equal(tasksInState(none.tasks, "failed", 0, 0, 50).length, 0);
  assert.equal(none.reads(), 0);
});
