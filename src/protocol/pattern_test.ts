import assert from "node:assert/strict";
import { compilePattern, patternFinds, patternSchema } from "./pattern.ts";

Deno.test("a catastrophic pattern runs in linear time (the ReDoS that froze the tracker)", () => {
  const pattern = compilePattern("^(a+)+$");
  const label = "a".repeat(40) + "b"; // JavaScript's RegExp takes 2^40 steps here
  const started = performance.now();
  assert.equal(patternFinds(pattern, label), false);
  assert.equal(patternFinds(pattern, "a".repeat(256)), true);
  assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
});

Deno.test("patterns match anywhere unless anchored, as RegExp.test", () => {
  assert.equal(patternFinds(compilePattern("lin"), "x-linux"), true);
  assert.equal(patternFinds(compilePattern("^lin"), "x-linux"), false);
  assert.equal(patternFinds(compilePattern("(?i)^LINUX$"), "linux"), true);
});

Deno.test("patterns outside RE2, too long or too complex are refused with the reason", () => {
  const message = (source: string) => patternSchema.safeParse(source).error?.issues[0].message;
  assert.match(message("(?=x)")!, /must be an RE2 regular expression \(invalid or unsupported Perl syntax/);
  assert.match(message("(a\\1)")!, /RE2/);
  assert.match(message("(a")!, /missing closing \)/);
  assert.match(message("[\\s\\S]{1000}")!, /too complex \(1002 RE2 instructions; at most 512\)/);
  assert.match(message("a".repeat(257))!, /at most 256 characters/);
  assert.match(message("a\0")!, /NUL/);
  assert.equal(patternSchema.safeParse("^(x86_64|aarch64)$").success, true);
});
