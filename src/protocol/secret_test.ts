import assert from "node:assert/strict";
import { effectiveTask } from "./job_expand.ts";
import { validateJobSpec } from "./job_validate.ts";
import { setSecretRequestSchema } from "./secret.ts";
import { describeIssue } from "./spec_errors.ts";

function problems(spec: unknown): string[] {
  const result = validateJobSpec(spec);
  return result.success ? [] : result.issues.map((issue) => describeIssue(issue, spec));
}

Deno.test("secrets: a list of names or a mapping from variable to name; a task's over its job's", () => {
  const spec = {
    name: "j",
    secrets: ["TOKEN", "REGISTRY"],
    tasks: [{ name: "a", run: "x", secrets: { REGISTRY: "STAGING_REGISTRY", KEY: "DEPLOY_KEY" } }, {
      name: "b",
      run: "x",
    }],
  };
  const result = validateJobSpec(spec);
  assert.ok(result.success);
  const [a, b] = result.data.tasks.map((task) => effectiveTask(result.data, task).secrets);
  assert.deepEqual(a, { TOKEN: "TOKEN", REGISTRY: "STAGING_REGISTRY", KEY: "DEPLOY_KEY" });
  assert.deepEqual(b, { TOKEN: "TOKEN", REGISTRY: "REGISTRY" });
  // What is stored (the mapping) is a valid job file too.
  assert.ok(validateJobSpec(JSON.parse(JSON.stringify(result.data))).success);
});

Deno.test("bad secrets are refused, naming the field", () => {
  const job = (task: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name: "j",
    ...extra,
    tasks: [{ name: "t", run: "x", ...task }],
  });
  assert.deepEqual(problems(job({ secrets: ["9LIVES"] })), [
    `"tasks[0].secrets[0]" must be letters, digits and '_', not starting with a digit (at most 128), got "9LIVES"`,
  ]);
  assert.deepEqual(problems(job({ secrets: { "bad-var": "OK" } })), [
    `"tasks[0].secrets" has the key "bad-var", which (a variable's name) must be letters, digits and '_', not ` +
    "starting with a digit (at most 128)",
  ]);
  assert.deepEqual(problems(job({ secrets: ["FABRIC_TOKEN"] })), [
    `"tasks[0].secrets" gives the variable "FABRIC_TOKEN": FABRIC_ variables are fabric's own`,
  ]);
  assert.deepEqual(problems(job({ env: { TOKEN: "x" } }, { secrets: ["TOKEN"] })), [
    `"secrets" gives the variable "TOKEN", which "env" sets too (task "t"); keep one`,
  ]);
  const many = Array.from({ length: 20 }, (_, i) => `S${i}`);
  assert.deepEqual(problems(job({ secrets: many.map((s) => `T${s}`) }, { secrets: many })), [
    `"tasks[0].secrets" with the job's "secrets" names 40 secrets for task "t"; at most 32`,
  ]);
  assert.equal(problems(job({ secrets: "TOKEN" })).length, 1);
});

Deno.test("a secret's value is text of at least 4 characters and at most 32 KiB; its rule is roles and tokens", () => {
  const ok = setSecretRequestSchema.safeParse({
    value: "abcd",
    allow: ["submit", "ci", "token:operator", "role:read"],
  });
  assert.ok(ok.success);
  assert.deepEqual(ok.data.allow, ["role:submit", "token:ci", "token:operator", "role:read"]);
  for (const value of ["abc", "ab\0cd", "x".repeat(32 * 1024 + 1)]) {
    assert.equal(setSecretRequestSchema.safeParse({ value }).success, false, JSON.stringify(value.slice(0, 10)));
  }
  assert.equal(setSecretRequestSchema.safeParse({ value: "abcd", allow: ["role:root"] }).success, false);
  assert.equal(setSecretRequestSchema.safeParse({ value: "abcd", allow: ["bad name"] }).success, false);
  assert.equal(setSecretRequestSchema.safeParse({ value: "abcd", extra: 1 }).success, false);
});
