import assert from "node:assert/strict";
import { expandJob, taskInstanceAt } from "./job_expand.ts";
import type { TaskSpec } from "./job_spec.ts";
import { validateJobSpec } from "./job_validate.ts";

function job(raw: unknown) {
  const parsed = validateJobSpec(raw);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
  return parsed.data;
}

Deno.test("a template's task at an index is the one expandJob makes there, for counts and matrices", () => {
  const spec = job({
    name: "j",
    tasks: [
      { name: "one", run: "x" },
      { name: "copies", run: "x", count: 3 },
      { name: "grid", run: "x", matrix: { os: ["linux", "mac"], node: [18, 20, 22] } },
      { name: "both", run: "x", count: 2, matrix: { a: ["p", "q"], b: ["r"], c: ["s", "t", "u"] } },
    ],
  });
  const all = expandJob(spec);
  assert.equal(all.length, 1 + 3 + 6 + 12);
  for (const task of spec.tasks) {
    const made = all.filter((instance) => instance.template === task.name);
    made.forEach((instance, i) => assert.deepEqual(taskInstanceAt(task, i), instance));
    assert.equal(taskInstanceAt(task, made.length), null);
  }
  // The order and names are the ones the tracker has always queued.
  assert.deepEqual(all.filter((t) => t.template === "grid").map((t) => t.name), [
    "grid[os=linux,node=18]",
    "grid[os=linux,node=20]",
    "grid[os=linux,node=22]",
    "grid[os=mac,node=18]",
    "grid[os=mac,node=20]",
    "grid[os=mac,node=22]",
  ]);
  assert.deepEqual(all.filter((t) => t.template === "both").slice(0, 3).map((t) => t.name), [
    "both[a=p,b=r,c=s][0]",
    "both[a=p,b=r,c=s][1]",
    "both[a=p,b=r,c=t][0]",
  ]);
  assert.deepEqual(all.find((t) => t.name === "copies[2]"), {
    template: "copies",
    name: "copies[2]",
    index: 2,
    count: 3,
    matrix: null,
  });
});

Deno.test("an index that is not a task of the template is none", () => {
  const task = job({ name: "j", tasks: [{ name: "t", run: "x", count: 2 }] }).tasks[0];
  for (const index of [-1, 2, 0.5, NaN, Infinity, 2 ** 53]) assert.equal(taskInstanceAt(task, index), null);
});

Deno.test("a task is found without making the others: the last of a 10^12 fan-out", () => {
  // Far past what a job may hold (no validation here): making the others would never end.
  const values = Array.from({ length: 10_000 }, (_, i) => String(i));
  const task = { name: "t", run: "x", matrix: { a: values, b: values, c: values } } as TaskSpec;
  assert.deepEqual(taskInstanceAt(task, 10 ** 12 - 1), {
    template: "t",
    name: "t[a=9999,b=9999,c=9999]",
    index: 10 ** 12 - 1,
    count: 10 ** 12,
    matrix: { a: "9999", b: "9999", c: "9999" },
  });
});
