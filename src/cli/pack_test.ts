/** Which names files get in a pack, on a real folder: outside the job file's folder too, and clashes refused. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { collectFiles, type PackOptions } from "./pack.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "fabric-pack-test-" }));
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return root;
}

const options = (base: string): PackOptions => ({ base, noIgnore: true, allowOutside: true, maxBytes: 1 << 20 });

Deno.test("a folder outside is shipped under its own path: `..` itself is the pack's top, never a `..` name", async () => {
  const root = await tree({ "job/run.sh": "x", "shared/lib.sh": "y" });
  try {
    const whole = await collectFiles([".."], options(join(root, "job")));
    assert.deepEqual(whole.map((s) => s.name), ["job/run.sh", "shared/lib.sh"]);
    const shared = await collectFiles(["../shared"], options(join(root, "job")));
    assert.deepEqual(shared.map((s) => s.name), ["shared/lib.sh"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("two paths that would be one name in the pack are refused, naming both", async () => {
  const root = await tree({ "job/a/x": "inside", "a/x": "outside" });
  try {
    await assert.rejects(
      collectFiles(["a", "../a"], options(join(root, "job"))),
      /"[^"]*job\/a\/x" and "[^"]*\/a\/x" would both be "a\/x" in the pack/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
