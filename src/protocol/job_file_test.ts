import assert from "node:assert/strict";
import { expandJob } from "./job_expand.ts";
import { JobSpecError, parseJobFile } from "./job_file.ts";
import { needRules } from "./needs.ts";

async function problems(text: string): Promise<string[]> {
  try {
    await parseJobFile(text, "job.yaml");
  } catch (error) {
    assert.ok(error instanceof JobSpecError);
    assert.equal(error.file, "job.yaml");
    return error.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error("expected the file to be invalid");
}

Deno.test("a valid file parses with durations in milliseconds and count fan-out", async () => {
  const { spec } = await parseJobFile(
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

Deno.test("each problem is located by line and column and names the field", async () => {
  assert.deepEqual(
    await problems("name: x\ntasks:\n  - name: a\n    run: echo\n    count: three\n  - name: b\n    runn: 1\n"),
    [
      '5:12 "tasks[0].count" must be a number, got "three"',
      '6:5 "tasks[1]" needs "run" (a shell task), "script" or "code" (a script task), "git" and "steps", or "uses" (an add-on)',
      '7:5 "tasks[1]" has unknown field "runn"',
    ],
  );
});

Deno.test("bad names, durations, shells and empty task lists are explained", async () => {
  assert.deepEqual(
    await problems("name: bad name\ntasks:\n  - name: a\n    run: echo\n    timeout: 5x\n    shell: fish\n"),
    [
      `1:7 "name" must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63), got "bad name"`,
      '5:14 "tasks[0].timeout" must be a duration like "30s", "5m" or "1h30m", got "5x"',
      '6:12 "tasks[0].shell" must be "bash", "sh", "python" or a command containing "{0}"',
    ],
  );
  assert.deepEqual(await problems("name: x\ntasks: []\n"), ['2:8 "tasks" needs at least one item']);
});

Deno.test("duplicate task names and broken YAML are errors", async () => {
  assert.deepEqual(await problems("name: x\ntasks:\n  - {name: a, run: x}\n  - {name: a, run: y}\n"), [
    '4:12 "tasks[1].name" repeats the name "a" of tasks[0]',
  ]);
  const yaml = await problems("name: x\ntasks: [\n");
  assert.equal(yaml.length, 1);
  assert.match(yaml[0], /^\d+:\d+ not valid YAML/);
  assert.match((await problems("name: x\nname: y\ntasks: []\n"))[0], /not valid YAML: Map keys must be unique/);
});

Deno.test("dependencies name existing tasks and form no cycle; the error names them", async () => {
  assert.deepEqual(
    await problems(`name: x
tasks:
  - {name: a, run: x, needs: [c]}
  - {name: b, run: x, needs: [a]}
  - {name: c, run: x, needs: [b, nope, c]}
`),
    [
      '3:30 "tasks[0].needs" forms a cycle: "a" -> "c" -> "b" -> "a"',
      '5:34 "tasks[2].needs[1]" names "nope", which is not a task of this job',
      '5:40 "tasks[2].needs[2]" names the task itself',
    ],
  );
});

Deno.test("task kinds, placement rules and fan-out are checked", async () => {
  assert.deepEqual(
    await problems(`name: x
tasks:
  - {name: a, run: x, code: "1"}
  - {name: b, git: {repo: "https://h/r.git"}}
  - {name: c, run: x, constraints: [{label: zone, equals: eu, in: [us]}]}
  - {name: d, run: x, select: everywhere}
  - {name: e, run: x, matrix: {"bad key": [1]}}
  - {name: f, run: x, resources: {memory: lots}}
  - {name: g, run: x, permissions: {read: [relative/path], net: ["no spaces allowed"]}}
`),
    [
      '3:20 "tasks[0].run" cannot be used with a script task',
      '4:20 "tasks[1].git" needs either "steps" or "run" (the commands to run in the checkout)',
      '5:37 "tasks[2].constraints[0]" needs exactly one of "equals", "notEquals", "in", "exists", "matches"',
      '6:31 "tasks[3].select" must be one of "least_loaded", "random", "round_robin", "all", got "everywhere"',
      `7:43 "tasks[4].matrix" has the key "bad key", which is not letters, digits and '_' starting with a letter`,
      '8:43 "tasks[5].resources.memory" must be a size like "512M" or "2G", got "lots"',
      `9:44 "tasks[6].permissions.read[0]" must be an absolute path without '..'`,
      '9:66 "tasks[6].permissions.net[0]" must look like "host:port", "host" or "[v6]:port", got "no spaces allowed"',
    ],
  );
});

Deno.test("matrix and count multiply; names show both", async () => {
  const { spec } = await parseJobFile(
    "name: m\ntasks:\n  - {name: t, run: x, count: 2, matrix: {os: [a, b], v: [1]}}\n",
    "f",
  );
  assert.deepEqual(expandJob(spec).map((t) => [t.name, t.index, t.count, t.matrix]), [
    ["t[os=a,v=1][0]", 0, 4, { os: "a", v: "1" }],
    ["t[os=a,v=1][1]", 1, 4, { os: "a", v: "1" }],
    ["t[os=b,v=1][0]", 2, 4, { os: "b", v: "1" }],
    ["t[os=b,v=1][1]", 3, 4, { os: "b", v: "1" }],
  ]);
});

Deno.test("a git repo no agent may use, or a ref that is not one, is refused at validation, located, without repeating the URL", async () => {
  assert.deepEqual(
    await problems(`name: x
tasks:
  - {name: a, git: {repo: "ext::sh -c touch% /tmp/pwned"}, run: x}
  - {name: b, git: {repo: "--upload-pack=touch /tmp/pwned"}, run: x}
  - {name: c, git: {repo: "ssh://git:s3cret@example.com/r.git"}, run: x}
  - {name: d, git: {repo: "relative/repo.git"}, run: x}
  - {name: e, git: {repo: "/srv/private.git"}, run: x}
  - {name: f, git: {repo: "https://example.com/r.git"}, run: x}
  - {name: g, git: {repo: "https://example.com/r.git", ref: "main:refs/heads/x"}, run: x}
  - {name: h, git: {repo: "https://example.com/r.git", ref: "--upload-pack=x"}, run: x}
`),
    [
      `3:27 "tasks[0].git.repo" names the git remote helper "ext" ("ext::"), which can run commands on the agent; use an https, ssh or git URL`,
      `4:27 "tasks[1].git.repo" starts with '-', which git would read as an option`,
      `5:27 "tasks[2].git.repo" holds a password, which fabric supports only in http(s) URLs`,
      `6:27 "tasks[3].git.repo" is neither a URL (https://, ssh://, git://, host:path) nor an absolute path (a relative path would be read from the agent's working directory)`,
      '9:61 "tasks[6].git.ref" is not a valid git ref (a branch, a tag, a full ref name, HEAD or a commit sha)',
      '10:61 "tasks[7].git.ref" is not a valid git ref (a branch, a tag, a full ref name, HEAD or a commit sha)',
    ],
  );
});

Deno.test("a YAML alias bomb is a job-file error at its first alias, not a crash", async () => {
  const rows = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (const [name, prev] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"], ["f", "e"], ["g", "f"]]) {
    rows.push(`${name}: &${name} [${new Array(9).fill(`*${prev}`).join(", ")}]`);
  }
  const started = performance.now();
  const [problem] = await problems(`name: x\ntasks: [{name: a, run: x}]\n${rows.join("\n")}\n`);
  assert.match(problem, /^4:8 its aliases \(\*name\) expand too far: a job file may use aliases at most 100 times/);
  assert.ok(performance.now() - started < 2000);
});

Deno.test("flow nesting past the limit is refused before the YAML parser sees it", async () => {
  const started = performance.now();
  assert.deepEqual(await problems(`name: x\ntasks: ${"[".repeat(200_000)}${"]".repeat(200_000)}\n`), [
    "2:40 the document nests deeper than 32 levels",
  ]);
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  assert.match((await problems(`name: x\ntasks: ["[[[[", {run: "{{{{"}]\n`))[0], /needs "run"|"tasks\[0\]"/);
});

Deno.test("a job file over 4 MiB is refused", async () => {
  assert.deepEqual(await problems(`name: x\n# ${"x".repeat(4 * 1024 * 1024)}\n`), [
    "1:1 the file is 4194315 bytes; a job file may be at most 4194304 bytes (4 MiB)",
  ]);
});

Deno.test("durations over 7 days, NUL bytes and non-RE2 patterns are located", async () => {
  // Clean text is checked first, over the whole document: the NUL alone is reported.
  assert.deepEqual(await problems(`name: x\ntasks: [{name: a, run: echo, timeout: 30d, env: {A: "a\\0b"}}]\n`), [
    '2:53 "tasks[0].env.A" must not hold a NUL byte (found at character 2)',
  ]);
  assert.deepEqual(
    await problems(`name: x
tasks:
  - name: a
    run: echo
    timeout: 30d
    constraints: [{label: os, matches: "(?<=x)y"}]
`),
    [
      '5:14 "tasks[0].timeout" may be at most 7d, got "30d"',
      '6:40 "tasks[0].constraints[0].matches" must be an RE2 regular expression (invalid named capture: `(?<=x)y`)',
    ],
  );
});

Deno.test("an alias whose anchor is missing or later is a YAML error, not a crash (found by the fuzz test)", async () => {
  assert.deepEqual(await problems("name: x\nx: &x\0 {run: echo}\ntasks:\n  - {name: a, <<: *x}\n"), [
    "4:19 not valid YAML: Unresolved alias (the anchor must be set before the alias): x",
  ]);
});

Deno.test("a need with a condition or artifacts: bad forms are located by line and column", async () => {
  const text = [
    "name: pipe",
    "tasks:",
    "  - {name: build, run: x}",
    "  - name: test",
    "    run: x",
    "    needs:",
    "      - task: build",
    "        when: sometimes",
    "  - name: sum",
    "    run: x",
    "    needs: [{task: test, colour: red}, {task: build, when: always}, {task: build}]",
    "    artifactsFrom: [nope]",
    "  - {name: ok, run: x, needs: [{task: test, when: always, artifacts: true}], artifactsFrom: [build]}",
  ].join("\n");
  assert.deepEqual(await problems(text), [
    '7:9 "tasks[1].needs[0].when" must be one of "on_success", "on_failure", "always", got "sometimes"',
    '11:26 "tasks[2].needs[0]" has unknown field "colour"',
    '12:21 "tasks[2].artifactsFrom[0]" names "nope", which is not a task of this job',
  ]);
  assert.deepEqual(
    await problems(
      "name: j\ntasks:\n  - {name: a, run: x}\n  - {name: b, run: x, needs: [a, {task: a, when: always}]}",
    ),
    ['4:34 "tasks[1].needs[1]" names "a" again, otherwise than needs[0]; keep one'],
  );
  const { spec } = await parseJobFile(
    [...text.split("\n").slice(0, 3), "  - {name: test, run: x}", text.split("\n")[12]].join("\n"),
    "f",
  );
  assert.deepEqual(needRules(spec.tasks.at(-1)!), [
    { task: "test", artifacts: true, when: "always" },
    { task: "build", artifacts: true, when: "on_success" },
  ]);
});
