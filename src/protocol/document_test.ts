import assert from "node:assert/strict";
import { checkDocument } from "./document.ts";

Deno.test("strings and keys with NUL bytes or lone surrogates are found with their path", () => {
  assert.deepEqual(checkDocument({ name: "ok", tasks: [{ env: { A: "x\0y" } }] }), [
    { path: ["tasks", 0, "env", "A"], message: "must not hold a NUL byte (found at character 2)" },
  ]);
  const [issue] = checkDocument({ env: { "B\ud800": "v" } });
  assert.deepEqual(issue.path, ["env"]);
  assert.match(issue.message, /has the key "B\\ud800", which must not hold invalid Unicode/);
  assert.deepEqual(checkDocument({ a: [1, true, null, "fine"] }), []);
});

Deno.test("nesting past the limit is refused, however deep, without recursion", () => {
  let deep: unknown = "leaf";
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const issues = checkDocument({ tasks: deep });
  assert.equal(issues.length, 1);
  assert.match(issues[0].message, /nests deeper than 32 levels/);
  assert.equal(issues[0].path.length, 32);
  // 32 levels are fine.
  let ok: unknown = "leaf";
  for (let i = 0; i < 31; i++) ok = [ok];
  assert.deepEqual(checkDocument(ok), []);
});

Deno.test("a document of more values than the limit is refused", () => {
  const issues = checkDocument({ tasks: new Array(2000).fill(0) }, { depth: 32, values: 1000 });
  assert.deepEqual(issues, [{ path: [], message: "holds more than 1000 values (maps, lists and scalars)" }]);
});
