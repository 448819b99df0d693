import assert from "node:assert/strict";
import { decodeUtf8, textProblem, textSchema, Utf8Error, utf8Length } from "./text.ts";

Deno.test("clean text has no NUL byte and no lone surrogate", () => {
  assert.equal(textProblem("héllo 日本 😀"), null);
  assert.match(textProblem("ab\0c")!, /NUL byte \(found at character 3\)/);
  assert.match(textProblem("a\ud800b")!, /lone surrogate/);
  assert.match(textProblem("\udc00")!, /lone surrogate/);
});

Deno.test("invalid UTF-8 is an error locating the first bad byte, never a silent U+FFFD", () => {
  const encoder = new TextEncoder();
  assert.equal(decodeUtf8(encoder.encode("name: é\n")), "name: é\n");
  const bad = new Uint8Array([...encoder.encode("name: x\ntasks: a"), 0xff, 0x41]);
  assert.throws(() => decodeUtf8(bad), (error: unknown) => {
    assert.ok(error instanceof Utf8Error);
    assert.deepEqual([error.offset, error.line, error.column], [16, 2, 9]);
    assert.match(error.message, /not valid UTF-8: byte 17 \(line 2, column 9\)/);
    return true;
  });
  // Overlong forms, encoded surrogates and truncated sequences are all invalid.
  for (const bytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf5, 0x80, 0x80, 0x80]]) {
    assert.throws(() => decodeUtf8(new Uint8Array([0x61, ...bytes])), { name: "Utf8Error", message: /byte 2 / });
  }
});

Deno.test("valid UTF-8 that holds U+FFFD or a BOM decodes as the fatal decoder decodes it", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  for (const text of ["a\uFFFDb", "\uFEFFname: x", "\uFFFD", "x".repeat(100_000) + "\uFFFD\n", "é\uFEFF"]) {
    const bytes = encoder.encode(text);
    assert.equal(decodeUtf8(bytes), fatal.decode(bytes), text.slice(0, 20));
  }
  // Invalid bytes beside a real U+FFFD are still found.
  const bad = new Uint8Array([...encoder.encode("\uFFFD"), 0x80]);
  assert.throws(() => decodeUtf8(bad), { name: "Utf8Error", message: /byte 4 / });
});

Deno.test("utf8Length counts UTF-8 bytes without encoding", () => {
  for (const text of ["", "abc", "é", "日本", "😀x", "a\u0800b"]) {
    assert.equal(utf8Length(text), new TextEncoder().encode(text).length, text);
  }
});

Deno.test("textSchema refuses NUL, lone surrogates and, with a limit, longer UTF-8", () => {
  const schema = textSchema(4);
  assert.equal(schema.safeParse("abcd").success, true);
  assert.equal(schema.safeParse("日本").success, false); // 6 bytes
  assert.match(schema.safeParse("日本").error!.issues[0].message, /at most 4 bytes long \(UTF-8\), got 6/);
  assert.match(schema.safeParse("a\0").error!.issues[0].message, /NUL/);
  assert.equal(textSchema().max(2).safeParse("abc").success, false);
});
