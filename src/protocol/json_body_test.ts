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

Deno.test("a string ends at the first quote after an even run of backslashes, wherever it is", () => {
  // Each agrees with a reference scan that steps through every character.
  function reference(text: string, limit: number): number | null {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "[" || c === "{") {
        if (++depth > limit) return i;
      } else if (c === "]" || c === "}") depth--;
    }
    return null;
  }
  const texts = [
    '["a\\\\"[[[]]]',
    '["a\\\\\\"[[[]]]"]',
    '["\\"", [[[', // an escaped quote, then a string that ends, then three levels
    '"\\\\\\\\"[[[',
    '"[[[[', // a string that never ends
    '[[["x"]], "\\\\\\"", [[[[]]]]]',
    "x".repeat(1000) + '"' + "\\".repeat(7) + '"[[[[',
  ];
  for (const text of texts) {
    for (const limit of [0, 1, 2, 3, 4]) assert.equal(nestingOverflow(text, limit), reference(text, limit), text);
  }
  // Random texts of the characters that matter.
  const alphabet = ['"', "\\", "[", "]", "{", "}", "x"];
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let n = 0; n < 2000; n++) {
    const text = Array.from({ length: 1 + Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * 7)])
      .join("");
    assert.equal(nestingOverflow(text, 2), reference(text, 2), text);
  }
});
