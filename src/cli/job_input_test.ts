import assert from "node:assert/strict";
import { join } from "node:path";
import { JobSpecError } from "../protocol/job_spec_error.ts";
import { readJobFile } from "./job_input.ts";

async function withFolder(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-job-input-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function problems(file: string): Promise<string[]> {
  try {
    await readJobFile(file);
  } catch (error) {
    assert.ok(error instanceof JobSpecError, String(error));
    return error.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error("expected the job file to be refused");
}

const job = (script: string) => `name: s\ntasks:\n  - name: a\n    script: ${script}\n`;

Deno.test("a script inside the job file's folder is shipped", async () => {
  await withFolder(async (dir) => {
    await Deno.mkdir(join(dir, "tools"));
    await Deno.writeTextFile(join(dir, "tools", "a.ts"), "console.log(1);\n");
    await Deno.writeTextFile(join(dir, "job.yaml"), job("tools/a.ts"));
    assert.deepEqual((await readJobFile(join(dir, "job.yaml"))).files, { "tools/a.ts": "console.log(1);\n" });
  });
});

Deno.test("a script outside the job file's folder is refused, by '..' or through a link", async () => {
  await withFolder(async (dir) => {
    const jobs = join(dir, "jobs");
    await Deno.mkdir(jobs);
    await Deno.writeTextFile(join(dir, "secret.txt"), "hunter2\n");
    await Deno.writeTextFile(join(jobs, "up.yaml"), job("../../../etc/shadow"));
    assert.deepEqual(await problems(join(jobs, "up.yaml")), [
      `4:13 "tasks[0].script" must be a path relative to the job file's folder, without ".."`,
    ]);
    await Deno.symlink(join(dir, "secret.txt"), join(jobs, "link.ts"));
    await Deno.writeTextFile(join(jobs, "link.yaml"), job("link.ts"));
    const [problem] = await problems(join(jobs, "link.yaml"));
    assert.match(problem, /^4:13 "tasks\[0\]\.script" resolves to ".*\/secret\.txt", outside the job file's folder/);
    await Deno.symlink("/etc", join(jobs, "etc"));
    await Deno.writeTextFile(join(jobs, "dir.yaml"), job("etc/passwd"));
    assert.match((await problems(join(jobs, "dir.yaml")))[0], /resolves to "\/etc\/passwd", outside/);
  });
});

Deno.test("a script that is a FIFO, a folder or not UTF-8 is refused without reading it", async () => {
  await withFolder(async (dir) => {
    const fifo = new Deno.Command("mkfifo", { args: [join(dir, "pipe.ts")] });
    assert.equal((await fifo.output()).code, 0);
    await Deno.writeTextFile(join(dir, "fifo.yaml"), job("pipe.ts"));
    assert.match(
      (await problems(join(dir, "fifo.yaml")))[0],
      /"tasks\[0\]\.script" cannot be read from .*: not a regular file/,
    );
    await Deno.mkdir(join(dir, "folder.ts"));
    await Deno.writeTextFile(join(dir, "folder.yaml"), job("folder.ts"));
    assert.match((await problems(join(dir, "folder.yaml")))[0], /not a regular file/);
    await Deno.writeFile(join(dir, "latin1.ts"), new Uint8Array([0x2f, 0x2f, 0x20, 0xe9, 0x0a]));
    await Deno.writeTextFile(join(dir, "latin1.yaml"), job("latin1.ts"));
    assert.match(
      (await problems(join(dir, "latin1.yaml")))[0],
      /latin1\.ts" is not valid UTF-8: byte 4 \(line 1, column 4\)/,
    );
  });
});

Deno.test("a job file that is not UTF-8 or over 4 MiB is refused with where", async () => {
  await withFolder(async (dir) => {
    const bad = join(dir, "bad.yaml");
    await Deno.writeFile(bad, new Uint8Array([...new TextEncoder().encode("name: x\ntasks: [{name: \xe9"), 0xff]));
    assert.deepEqual(await problems(bad), ["2:17 not valid UTF-8 (at byte 26)"]);
    const big = join(dir, "big.yaml");
    await Deno.writeTextFile(big, `name: x\n#${"x".repeat(4 * 1024 * 1024)}\n`);
    assert.deepEqual(await problems(big), ["1:1 a job file may be at most 4194304 bytes"]);
  });
});
