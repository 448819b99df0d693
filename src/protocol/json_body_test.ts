import assert from "node:assert/strict";
import { FabricError } from "./errors.ts";
import { nestingOverflow, parseJsonBody } from "./json_body.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function refusal(body: Uint8Array): string {
  try {
    parseJsonBody(body);
  } catch (error) {
    assert.ok(error instanceof FabricError);
    assert.equal(error.code, "bad_request");
    return error.message;
  }
  throw new Error("expected the body to be refused");
}

Deno.test("a body of invalid UTF-8 is refused, naming the byte", () => {
  const body = new Uint8Array([...bytes('{"name": "a'), 0xc3, 0x28, ...bytes('"}')]);
  assert.equal(refusal(body), "The request body is not valid UTF-8: byte 12 (line 1, column 12)");
});

Deno.test("a body nesting deeper than 64 levels is refused before JSON.parse", () => {
  const started = performance.now();
  assert.match(
    refusal(bytes("[".repeat(1_000_000) + "]".repeat(1_000_000))),
    /nests deeper than 64 levels \(at character 65\)/,
  );
  assert.ok(performance.now() - started < 2000);
  // Brackets inside strings do not count, escaped quotes do not end a string.
  assert.equal(nestingOverflow(JSON.stringify({ a: '[[[[\\"[[[[' }), 2), null);
  assert.deepEqual(parseJsonBody(bytes('{"a": "[[[["}')), { a: "[[[[" });
});

Deno.test("a body that is not JSON is refused", () => {
  assert.equal(refusal(bytes("{")), "The request body is not valid JSON");
});
