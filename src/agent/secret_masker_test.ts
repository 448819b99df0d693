import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";
import type { LogChunkData } from "../protocol/mod.ts";
import { OutputBuffer } from "./output_buffer.ts";
import { maskAll, maskedForms, maskOutputFile, SecretMasker } from "./secret_masker.ts";

const SECRET = "hunter2-s3cr3t";

/** `pieces` through one stream's masker, as the agent reads them; returns what went out. */
function through(values: string[], pieces: string[]): string {
  const masker = new SecretMasker(maskedForms(values));
  return pieces.map((piece) => masker.push(piece)).join("") + masker.end();
}

Deno.test("a secret in one piece of output is masked", () => {
  assert.equal(through([SECRET], [`token=${SECRET}\n`]), "token=***\n");
  assert.equal(through([SECRET], [`${SECRET}${SECRET} and ${SECRET}`]), "****** and ***");
});

Deno.test("a secret cut between two reads, at every place, is masked", () => {
  const text = `before ${SECRET} after\n`;
  for (let cut = 0; cut <= text.length; cut++) {
    assert.equal(through([SECRET], [text.slice(0, cut), text.slice(cut)]), "before *** after\n", `cut at ${cut}`);
  }
  // A byte at a time.
  assert.equal(through([SECRET], [...text]), "before *** after\n");
});

Deno.test("the start of a secret is held back until the next piece says what it is, and no longer", () => {
  const masker = new SecretMasker(maskedForms([SECRET]));
  assert.equal(masker.push("abc hunt"), "abc ");
  assert.equal(masker.push("er2-s3"), "");
  assert.equal(masker.push("x"), "hunter2-s3x");
  assert.equal(masker.push("nothing to hold"), "nothing to hold");
  assert.equal(masker.push("hunter"), "");
  assert.equal(masker.end(), "hunter");
});

Deno.test("a start that repeats inside the secret is found after a false start", () => {
  const value = "abab-abac";
  assert.equal(through([value], ["xxabab-aba", "b-abac!"]), "xxabab-***!");
  assert.equal(through([value], ["abab-abab-", "abac"]), "abab-***");
});

Deno.test("several secrets, one inside another's text: the longest at a place wins", () => {
  assert.equal(through(["pass-word", "word-long-x"], ["pass-word-long-x"]), "***-long-x");
  assert.equal(through(["abcd", "abcdefgh"], ["..abcdefgh..abcd.."]), "..***..***..");
});

Deno.test("a value's lines, its JSON-escaped form and its base64 are masked; short pieces are not", () => {
  const key = "-----BEGIN KEY-----\nMIIBVAIBADANBgkq\n-----END KEY-----";
  const out = through([key], ["MIIBVAIBADANBgkq\n", JSON.stringify({ key }), "\n"]);
  assert.equal(out, '***\n{"key":"***"}\n');
  const b64 = btoa(SECRET);
  assert.equal(through([SECRET], [`${b64}\n${b64.replace(/=+$/, "")}\n`]), "***\n***\n");
  assert.equal(through(["ab\ncdef"], ["ab cdef"]), "ab ***");
  assert.ok(!maskedForms(["    "]).includes("    "), "blanks are not masked");
});

Deno.test("an error message and $FABRIC_OUTPUT are masked too; JSON that masking breaks is refused", () => {
  assert.equal(maskAll(`cannot start: ${SECRET}`, [SECRET]), "cannot start: ***");
  assert.equal(maskAll("unchanged", []), "unchanged");
  assert.deepEqual(maskOutputFile({ output: `{"t":"${SECRET}"}` }, [SECRET]), { output: '{"t":"***"}' });
  assert.deepEqual(maskOutputFile({ output: '{"n":12345678}' }, ["12345678"]), {
    outputError: "$FABRIC_OUTPUT holds a secret where masking it leaves no valid JSON",
  });
  assert.deepEqual(maskOutputFile({ output: '{"n":1}' }, [SECRET]), { output: '{"n":1}' });
});

Deno.test("the output buffer masks each stream before its chunks leave, across reads and at its close", () => {
  const chunks: LogChunkData[] = [];
  const clock = new FakeClock();
  const buffer = new OutputBuffer({ emit: (c) => (chunks.push(...c), true) }, clock, [SECRET]);
  const bytes = new TextEncoder().encode(`a ${SECRET} b\n`);
  buffer.push("stdout", bytes.subarray(0, 6));
  buffer.push("stderr", new TextEncoder().encode("hunter2"));
  buffer.push("stdout", bytes.subarray(6));
  buffer.flush();
  buffer.push("stdout", new TextEncoder().encode("hunter2-s"));
  buffer.close();
  const text = (stream: string) => chunks.filter((c) => c.stream === stream).map((c) => c.data).join("");
  assert.equal(text("stdout"), "a *** b\nhunter2-s");
  assert.equal(text("stderr"), "hunter2");
  assert.ok(chunks.every((c) => !c.data.includes(SECRET)));
});
