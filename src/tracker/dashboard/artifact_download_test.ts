import assert from "node:assert/strict";
import { contentDisposition } from "./artifact_download.ts";

Deno.test("an artifact's download name cannot break its header: quotes, CR LF, dots, a lone surrogate", () => {
  assert.equal(contentDisposition("dist/app.tar.gz"), `attachment; filename="app.tar.gz"`);
  assert.equal(
    contentDisposition('a/"x"\r\nSet-Cookie: y=1'),
    `attachment; filename="_x___Set-Cookie__y_1"; filename*=UTF-8''%22x%22%0D%0ASet-Cookie%3A%20y%3D1`,
  );
  assert.equal(contentDisposition("dist/.."), `attachment; filename="artifact"; filename*=UTF-8''..`);
  assert.equal(contentDisposition(".env"), `attachment; filename="_env"; filename*=UTF-8''.env`);
  assert.equal(
    contentDisposition("it's (1)*.txt"),
    `attachment; filename="it_s__1__.txt"; filename*=UTF-8''it%27s%20%281%29%2A.txt`,
  );
  assert.equal(contentDisposition("bad\uD800.txt"), `attachment; filename="bad_.txt"`, "no UTF-8 for a lone surrogate");
  assert.equal(contentDisposition("dir/"), `attachment; filename="dir"`);
  const long = contentDisposition("x".repeat(5000));
  assert.ok(long.length < 300, "at most 120 characters of a name");
  for (const header of [contentDisposition('a/"x"\r\n'), contentDisposition("\u0000\u007f")]) {
    assert.ok(!/[\r\n\0\u007f]/.test(header));
  }
});
