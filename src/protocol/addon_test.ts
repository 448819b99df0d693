import assert from "node:assert/strict";
import { workOf } from "./assignment.ts";
import { effectiveTask } from "./job_expand.ts";
import { JobSpecError, parseJobFile } from "./job_file.ts";
import { checkParameters, compileParameters, describeParameterProblem, isSecureSchema } from "./parameters.ts";

async function problems(text: string): Promise<string[]> {
  try {
    await parseJobFile(text, "job.yaml");
  } catch (error) {
    assert.ok(error instanceof JobSpecError);
    return error.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error("expected the file to be invalid");
}

Deno.test("a task that uses an add-on is of kind addon, with its name, version and parameters", async () => {
  const { spec } = await parseJobFile(
    "name: j\ntasks:\n  - name: check\n    uses: http-check@1.0.0-rc.1\n    with: {url: 'http://x', expect: [200]}\n",
    "job.yaml",
  );
  const task = spec.tasks[0];
  assert.equal(effectiveTask(spec, task).kind, "addon");
  assert.equal(effectiveTask(spec, task).uses, "http-check@1.0.0-rc.1");
  assert.deepEqual(workOf(task, {}), {
    kind: "addon",
    addon: { name: "http-check", version: "1.0.0-rc.1", with: { url: "http://x", expect: [200] } },
  });
});

Deno.test("uses and with are checked, located, and exclusive of the other kinds", async () => {
  assert.deepEqual(
    await problems(
      "name: j\ntasks:\n  - {name: a, uses: http-check}\n  - {name: b, uses: x@1.0.0, run: echo}\n" +
        "  - {name: c, run: echo, with: {a: 1}}\n  - {name: d, uses: x@1.0.0, with: [1]}\n",
    ),
    [
      '3:21 "tasks[0].uses" must name an add-on and its version as NAME@VERSION (like "http-check@1.0.0"), got "http-check"',
      '4:35 "tasks[1].run" cannot be used with "uses": an add-on task runs what its add-on says',
      '5:32 "tasks[2].with" applies only with "uses" (an add-on\'s parameters)',
      '6:36 "tasks[3].with" must be a mapping, got a list',
    ],
  );
});

Deno.test("parameters: a misfit is said per field under with; a schema that is none is refused", () => {
  const schema = {
    type: "object",
    properties: {
      url: { type: "string", pattern: "^https?://" },
      expect: { type: "array", items: { type: "integer" } },
    },
    required: ["url"],
    additionalProperties: false,
  };
  assert.deepEqual(checkParameters(schema, { url: "http://x", expect: [200] }), []);
  assert.deepEqual(
    checkParameters(schema, { url: "ftp://x", expect: ["a"], extra: 1 }).map(describeParameterProblem).sort(),
    [
      '"with.expect.0" must be integer',
      '"with.extra" is not a parameter of this add-on',
      '"with.url" must match pattern "^https?://"',
    ],
  );
  assert.deepEqual(checkParameters(schema, {}).map(describeParameterProblem), ['"with.url" is required']);
  assert.throws(() => compileParameters({ type: "object", properties: { a: { type: "strng" } } }), /not a JSON Schema/);
  assert.throws(() => compileParameters({ type: "object", frobnicate: true }), /unknown keyword/);
  assert.throws(() => compileParameters({ type: "string" }), /"type": "object"/);
  // RE2, not a backtracking RegExp: a pattern RE2 does not take is refused; a catastrophic one stays linear.
  assert.throws(() => compileParameters({ type: "object", properties: { a: { type: "string", pattern: "(?=x)" } } }));
  const evil = { type: "object", properties: { a: { type: "string", pattern: "^(a+)+$" } } };
  assert.equal(checkParameters(evil, { a: "a".repeat(40) + "b" }).length, 1);
});

Deno.test("a schema under which checking a value could be slow is not one the tracker checks with", () => {
  const items = { type: "array", items: { type: "object" }, uniqueItems: true };
  assert.equal(isSecureSchema({ type: "object", properties: { list: items } }), false);
  assert.equal(isSecureSchema({ type: "object", properties: { list: { ...items, maxItems: 16 } } }), true);
});

Deno.test("two schemas with one $id (two versions of an add-on) are each their own; a remote $ref is refused, never fetched", () => {
  const v1 = { $id: "http-check", type: "object", properties: { a: { type: "string" } } };
  const v2 = { $id: "http-check", type: "object", properties: { a: { type: "integer" } } };
  assert.deepEqual(checkParameters(v1, { a: "x" }), []);
  assert.deepEqual(checkParameters(v2, { a: 1 }), []);
  assert.deepEqual(checkParameters(v1, { a: 1 }).map(describeParameterProblem), ['"with.a" must be string']);
  assert.throws(
    () => compileParameters({ type: "object", properties: { a: { $ref: "https://example.com/s.json" } } }),
    /can't resolve reference/,
  );
});
