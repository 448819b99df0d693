import assert from "node:assert/strict";
import { validateJobSpec } from "./job_validate.ts";
import { describeIssue } from "./spec_errors.ts";

/** The sentences a user would see for `spec`, or [] when it is valid. */
function problems(spec: unknown): string[] {
  const result = validateJobSpec(spec);
  return result.success ? [] : result.issues.map((issue) => describeIssue(issue, spec));
}

const job = (task: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "j",
  ...extra,
  tasks: [{ name: "t", run: "true", ...task }],
});

Deno.test("the documented maximum of 1,000,000 tasks is accepted, one more is not", () => {
  assert.deepEqual(problems(job({ count: 1_000_000 })), []);
  assert.deepEqual(problems(job({ count: 1000, matrix: { a: Array.from({ length: 1000 }, (_, i) => i) } })), []);
  assert.deepEqual(problems(job({ count: 1_000_001 })), [
    '"tasks[0].count" must be at most 1000000, got number 1000001',
    '"tasks" expand to 1000001 tasks; a job may hold at most 1000000',
  ]);
  const matrix = { a: Array.from({ length: 1000 }, (_, i) => i), b: new Array(500).fill(1) };
  assert.deepEqual(problems(job({ count: 2, matrix })), []);
  assert.deepEqual(problems(job({ count: 3, matrix })), [
    '"tasks" expand to 1500000 tasks; a job may hold at most 1000000',
  ]);
});

Deno.test("a needs chain of 10,000 tasks validates without recursion, and its cycle is found", () => {
  const tasks = Array.from(
    { length: 10_000 },
    (_, i) => ({ name: `t${i}`, run: "true", needs: i ? [`t${i - 1}`] : [] }),
  );
  assert.deepEqual(problems({ name: "chain", tasks }), []);
  tasks[0].needs = ["t9999"];
  const [cycle] = problems({ name: "chain", tasks });
  assert.match(
    cycle,
    /^"tasks\[0\]\.needs" forms a cycle: "t0" -> "t9999" -> "t9998" .* … \(9989 more\) -> "t1" -> "t0"$/,
  );
  assert.equal(
    problems({ name: "many", tasks: Array.from({ length: 10_001 }, (_, i) => ({ name: `t${i}`, run: "x" })) })[0],
    '"tasks" may hold at most 10000 items',
  );
});

Deno.test("NUL bytes and lone surrogates are refused anywhere, with the field named", () => {
  assert.deepEqual(problems(job({ env: { A: "x\0" } })), [
    '"tasks[0].env.A" must not hold a NUL byte (found at character 2)',
  ]);
  assert.deepEqual(problems(job({ run: "echo \ud800" })), [
    '"tasks[0].run" must not hold invalid Unicode (a lone surrogate)',
  ]);
  assert.deepEqual(problems(job({ matrix: { os: ["linux\0"] } })), [
    '"tasks[0].matrix.os[0]" must not hold a NUL byte (found at character 6)',
  ]);
  assert.deepEqual(problems({ name: "j", tasks: [{ name: "t", run: "x", "a\0": 1 }] }), [
    '"tasks[0]" has the key "a\\u0000", which must not hold a NUL byte (found at character 2)',
  ]);
});

Deno.test("sizes of scripts, variables, matrices and constraints are bounded", () => {
  assert.deepEqual(problems(job({ run: "x".repeat(128 * 1024) })), [
    '"tasks[0].run" may be at most 131071 bytes long (UTF-8), got 131072',
  ]);
  assert.deepEqual(problems(job({ env: { A: "é".repeat(70_000) } })), [
    '"tasks[0].env.A" may be at most 131071 bytes long (UTF-8), got 140000',
  ]);
  const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`V${i}`, "x".repeat(120_000)]));
  assert.deepEqual(problems(job({ env: big })), [
    '"tasks[0].env" may hold at most 1048576 bytes of variables, got 1200040',
  ]);
  const half = (prefix: string) =>
    Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`${prefix}${i}`, "x".repeat(120_000)]));
  assert.deepEqual(problems(job({ env: half("T") }, { env: half("J") })), [
    '"tasks[0].env" with the job\'s "env" holds 1200040 bytes of variables; at most 1048576',
  ]);
  const keys = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, ["a"]]));
  assert.deepEqual(problems(job({ matrix: keys })), ['"tasks[0].matrix" may have at most 16 keys']);
  assert.deepEqual(problems(job({ matrix: { a: ["x".repeat(257)] } })), [
    '"tasks[0].matrix.a[0]" must be at most 256, got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"',
  ]);
  assert.deepEqual(problems(job({ constraints: new Array(65).fill({ label: "a", exists: true }) })), [
    '"tasks[0].constraints" may hold at most 64 items',
  ]);
  assert.deepEqual(problems(job({ constraints: [{ label: "os", matches: "^(?!win)" }] })), [
    '"tasks[0].constraints[0].matches" must be an RE2 regular expression (invalid or unsupported Perl syntax: `(?!`)',
  ]);
  assert.deepEqual(problems(job({ needs: new Array(1001).fill("t") })), [
    '"tasks[0].needs" may hold at most 1000 items',
  ]);
});

Deno.test("durations over 7 days are refused with the field named", () => {
  assert.deepEqual(problems(job({ timeout: "30d" })), ['"tasks[0].timeout" may be at most 7d, got "30d"']);
  assert.deepEqual(problems(job({ backoff: { delay: "1s", max: "8d" } })), [
    '"tasks[0].backoff.max" may be at most 7d, got "8d"',
  ]);
  assert.deepEqual(problems(job({}, { grace: 604_801 })), ['"grace" may be at most 7d, got 604801']);
  assert.deepEqual(problems(job({ timeout: "7d", lostAfter: "1h" })), []);
});

Deno.test("a script is a path inside the job file's folder", () => {
  const script = (path: string) => ({ name: "j", tasks: [{ name: "t", script: path }] });
  assert.deepEqual(problems(script("tools/report.ts")), []);
  for (const path of ["../../../etc/shadow", "/etc/shadow", "tools/../../x.ts", "..\\x.ts"]) {
    assert.deepEqual(problems(script(path)), [
      `"tasks[0].script" must be a path relative to the job file's folder, without ".."`,
    ], path);
  }
});

Deno.test("a spec nesting deeper than 32 levels is refused before the schema", () => {
  let deep: unknown = "x";
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.deepEqual(problems(job({ env: deep })), [
    '"tasks[0].env.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a" nests deeper than 32 levels',
  ]);
});

Deno.test("a field of the wrong type and a broken needs are told together, not in two rounds", () => {
  const spec = {
    name: "j",
    tasks: [
      { name: "a", run: "x", needs: ["zz", "b"] },
      { name: "b", run: 5, needs: ["a"] },
      { name: "c", run: "x", timeout: "5 parsecs" },
    ],
  };
  assert.deepEqual(problems(spec), [
    '"tasks[1].run" must be a string, got number 5',
    '"tasks[2].timeout" must be a duration like "30s", "5m" or "1h30m", got "5 parsecs"',
    '"tasks[0].needs[0]" names "zz", which is not a task of this job',
    '"tasks[0].needs" forms a cycle: "a" -> "b" -> "a"',
  ]);
  // A task whose name cannot be read leaves the graph unsaid (a need of it would wrongly name no task).
  assert.deepEqual(problems({ name: "j", tasks: [{ name: 7, run: "x" }, { name: "b", run: "x", needs: ["7"] }] }), [
    '"tasks[0].name" must be a string, got number 7',
  ]);
});

Deno.test("needs and matrix keys that would be the same variable are refused, naming both", () => {
  const tasks = [
    { name: "a-b", run: "x" },
    { name: "a_b", run: "x" },
    { name: "a.b", run: "x" },
    { name: "use", run: "x", needs: ["a-b", "a_b", "a.b", "a-b"] },
  ];
  assert.deepEqual(problems({ name: "j", tasks }), [
    '"tasks[3].needs[1]" names "a_b", which the task would get as FABRIC_NEEDS_A_B like "a-b" (needs[0]): ' +
    "rename one of the two tasks",
    '"tasks[3].needs[2]" names "a.b", which the task would get as FABRIC_NEEDS_A_B like "a-b" (needs[0]): ' +
    "rename one of the two tasks",
  ]);
  assert.deepEqual(problems(job({ matrix: { os: ["linux"], OS: ["debian"] } })), [
    '"tasks[0].matrix.OS" is the variable FABRIC_MATRIX_OS, like the key "os": rename one of the two',
  ]);
  // Said with a field error too.
  assert.equal(problems(job({ matrix: { os: ["linux"], OS: ["debian"] }, run: 1 })).length, 2);
  assert.deepEqual(problems(job({ matrix: { os: ["linux"], arch: ["arm"] }, needs: [] })), []);
});

Deno.test("a job's retention may be up to 365 days, and only at the job's level", () => {
  const spec = job({}, { retention: "30d" });
  const result = validateJobSpec(spec);
  assert.ok(result.success);
  assert.equal(result.data.retention, 30 * 86_400_000);
  assert.deepEqual(problems(job({}, { retention: "366d" })), ['"retention" may be at most 365d, got "366d"']);
  assert.deepEqual(problems(job({}, { retention: "a month" })), [
    '"retention" must be a duration like "30d" or "12h", got "a month"',
  ]);
  assert.equal(problems(job({ retention: "1d" })).length, 1);
});
