import assert from "node:assert/strict";
import { join } from "node:path";
import { bash, run, withTempDir } from "./_testing.ts";
import { diskUsage, watchDisk } from "./disk_watch.ts";

const MiB = 1024 * 1024;

Deno.test("a directory's usage counts what it holds, not what its links point to", async () => {
  await withTempDir(async (dir) => {
    const task = join(dir, "task");
    await Deno.mkdir(task);
    await Deno.writeFile(join(dir, "big-outside"), new Uint8Array(8 * MiB).fill(1));
    await Deno.writeFile(join(task, "inside"), new Uint8Array(2 * MiB).fill(1));
    await Deno.symlink(join(dir, "big-outside"), join(task, "link"));
    await Deno.symlink(dir, join(task, "dir-link"));
    const used = await diskUsage(task);
    assert.ok(used !== null && used >= 2 * MiB && used < 3 * MiB, `${used}`);
  });
});

Deno.test("the watch calls once when the directory grows past its limit, and not after it is stopped", async () => {
  await withTempDir(async (dir) => {
    let calls = 0;
    const over = Promise.withResolvers<void>();
    const watch = watchDisk(dir, 4 * MiB, () => {
      calls++;
      over.resolve();
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(calls, 0, "under its limit");
      await Deno.writeFile(join(dir, "fill"), new Uint8Array(6 * MiB).fill(1));
      await over.promise;
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(calls, 1);
    } finally {
      watch.stop();
    }
    const stopped = watchDisk(dir, MiB, () => calls++);
    stopped.stop();
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(calls, 1, "a stopped watch never calls");
  });
});

Deno.test("a task writing past its disk limit is killed with result disk; any one file stops at the limit", async () => {
  await withTempDir(async (dir) => {
    const many = await run({
      command: bash("for i in $(seq 1 12); do head -c 1M /dev/zero > f$i; done; sleep 20"),
      cwd: dir,
      disk: { dir, bytes: 4 * MiB },
    });
    assert.deepEqual(many.finished.result, { kind: "disk" });
    assert.ok(many.finished.durationMs < 10_000, `ended at the limit: ${many.finished.durationMs} ms`);

    await Deno.mkdir(join(dir, "one"));
    const one = await run({
      command: bash("head -c 3M /dev/zero > big || true; stat -c %s big"),
      cwd: join(dir, "one"),
      disk: { dir: join(dir, "one"), bytes: MiB },
    });
    assert.deepEqual(one.finished.result, { kind: "disk" }, "the last look saw it over");
    assert.equal(one.stdout, `${MiB}\n`, "the file stopped at exactly the limit (ulimit -f in 512-byte blocks)");
    assert.match(one.stderr, /File size limit exceeded/);

    await Deno.mkdir(join(dir, "within"));
    const within = await run({
      command: bash("head -c 512K /dev/zero > small"),
      cwd: join(dir, "within"),
      disk: { dir: join(dir, "within"), bytes: MiB },
    });
    assert.deepEqual(within.finished.result, { kind: "exited", code: 0 });
  });
});
