import assert from "node:assert/strict";
import { escapeControls, table } from "./output.ts";

Deno.test("control characters, bidi overrides and lone surrogates are shown escaped", () => {
  assert.equal(escapeControls("a\x1b[31mred\x07\r\n"), "a\\x1b[31mred\\x07\\x0d\\x0a");
  assert.equal(
    escapeControls("\x9b2J \x7f \u202eevil \u2066x \ud800"),
    "\\x9b2J \\x7f \\u{202e}evil \\u{2066}x \\u{d800}",
  );
  assert.equal(escapeControls("line 1\nline\t2", { keepNewlines: true }), "line 1\nline\\x092");
  assert.equal(escapeControls("héllo 日本 😀 -_=+"), "héllo 日本 😀 -_=+");
});

Deno.test("every table cell is escaped, so a matrix value cannot rewrite the terminal", () => {
  const out = table(["NAME", "NOTE"], [["t[os=\x1b]0;pwned\x07]", "ok\nfake row"]]);
  assert.ok(![...out].some((c) => c !== "\n" && c.charCodeAt(0) < 0x20), out);
  assert.equal(out.split("\n").length, 2);
  assert.ok(out.endsWith("t[os=\\x1b]0;pwned\\x07]  ok\\x0afake row"), out);
});
