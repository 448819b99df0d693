import assert from "node:assert/strict";
import { expandJob } from "./job_spec.ts";
import { JobSpecError, parseJobFile } from "./job_file.ts";

function problems(text: string): string[] {
  try {
    parseJobFile(text, "job.yaml");
  } catch (error) {
    assert.ok(error instanceof JobSpecError);
    assert.equal(error.file, "job.yaml");
    return error.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error("expected the file to be invalid");
}

Deno.test("a valid file parses with durations in milliseconds and count fan-out", () => {
  const { spec } = parseJobFile(
    "name: ok\ntasks:\n  - {name: a, run: echo, count: 3, timeout: 1m}\n  - {name: b, run: x}\n",
    "f",
  );
  assert.equal(spec.tasks[0].timeout, 60_000);
  assert.deepEqual(expandJob(spec).map((t) => [t.name, t.index, t.count]), [
    ["a[0]", 0, 3],
    ["a[1]", 1, 3],
    ["a[2]", 2, 3],
    ["b", 0, 1],
  ]);
});

Deno.test("each problem is located by line and column and names the field", () => {
  assert.deepEqual(
    problems("name: x\ntasks:\n  - name: a\n    run: echo\n    count: three\n  - name: b\n    runn: 1\n"),
    [
      '5:12 "tasks[0].count" must be a number, got "three"',
      '6:5 "tasks[1].run" is required',
      '7:5 "tasks[1]" has unknown field "runn"',
    ],
  );
});

Deno.test("bad names, durations, shells and empty task lists are explained", () => {
  assert.deepEqual(problems("name: bad name\ntasks:\n  - name: a\n    run: echo\n    timeout: 5x\n    shell: fish\n"), [
    `1:7 "name" must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63), got "bad name"`,
    '5:14 "tasks[0].timeout" must be a duration like "30s", "5m" or "1h30m", got "5x"',
    '6:12 "tasks[0].shell" must be "bash", "sh", "python" or a command containing "{0}"',
  ]);
  assert.deepEqual(problems("name: x\ntasks: []\n"), ['2:8 "tasks" needs at least one item']);
});

Deno.test("duplicate task names and broken YAML are errors", () => {
  assert.deepEqual(problems("name: x\ntasks:\n  - {name: a, run: x}\n  - {name: a, run: y}\n"), [
    '4:12 "tasks[1].name" repeats the name "a" of tasks[0]',
  ]);
  const yaml = problems("name: x\ntasks: [\n");
  assert.equal(yaml.length, 1);
  assert.match(yaml[0], /^\d+:\d+ not valid YAML/);
  assert.match(problems("name: x\nname: y\ntasks: []\n")[0], /not valid YAML: Map keys must be unique/);
});
