/** The walk for artifacts: it enters only folders a glob could match under, and says the links it leaves out. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { mayHoldMatches, walkArtifacts } from "./artifact_walk.ts";

Deno.test("folders a glob cannot match under are not entered", () => {
  const may = (dir: string, ...patterns: string[]) => mayHoldMatches(dir, patterns);
  assert.equal(may("dist", "dist/"), true);
  assert.equal(may("dist/a/b", "dist/"), true);
  assert.equal(may("node_modules", "dist/", "coverage/*.xml"), false);
  assert.equal(may("coverage", "coverage/*.xml"), true);
  assert.equal(may("coverage/sub", "coverage/*.xml"), false, "* stays in one folder");
  assert.equal(may("a/b/c", "a/**/x.txt"), true);
  assert.equal(may("b", "a/**/x.txt"), false);
  assert.equal(may("anything/deep", "**/*.xml"), true);
  assert.equal(may("sub", "*.txt"), false);
  assert.equal(may("reports/x", "reports/*/r.xml"), true);
  assert.equal(may("reports/x/y", "reports/*/r.xml"), false);
});

Deno.test("the walk looks only where the globs reach, and says each link and FIFO a glob names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-walk-" });
  try {
    await Deno.mkdir(join(dir, "dist/sub"), { recursive: true });
    await Deno.writeTextFile(join(dir, "dist/app"), "x");
    await Deno.writeTextFile(join(dir, "dist/sub/lib"), "x");
    await Deno.symlink("/etc/passwd", join(dir, "dist/passwd"));
    await new Deno.Command("mkfifo", { args: [join(dir, "dist/pipe")] }).output();
    await Deno.symlink("/etc", join(dir, "elsewhere"));
    // A large folder the globs do not name: never read.
    for (let i = 0; i < 50; i++) await Deno.mkdir(join(dir, "node_modules", `m${i}`), { recursive: true });
    const said: string[] = [];
    const walked = await walkArtifacts(dir, { patterns: ["dist/"], skip: [".fabric"], say: (l) => said.push(l) });
    assert.deepEqual(walked.files, ["dist/app", "dist/sub/lib"]);
    assert.deepEqual(said.sort(), [
      'artifact "dist/passwd" is not kept: skipped link (links are never followed)',
      'artifact "dist/pipe" is not kept: it is not a regular file',
    ]);
    // The top (dist, elsewhere, node_modules) and dist's four entries and sub's one; not node_modules' 50.
    assert.equal(walked.seen, 3 + 4 + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
