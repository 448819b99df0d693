import assert from "node:assert/strict";
import { join } from "node:path";
import { taskPaths, WorkDirs } from "./work_dirs.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fabric-workdirs-" });
  try {
    await fn(join(root, "work"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

Deno.test("a task directory left as it was given is kept and becomes the next task's, empty", async () => {
  await withRoot(async (root) => {
    const dirs = new WorkDirs(root);
    const first = taskPaths(root, "t1-1");
    dirs.make(first, true);
    assert.deepEqual(names(first.workDir), [".fabric", "tmp"]);
    const inode = Deno.statSync(first.workDir).ino;
    await dirs.release(first, true);
    assert.deepEqual(names(root), [".kept-0"], "kept under a name of its own");

    const second = taskPaths(root, "t2-1");
    dirs.make(second, true);
    assert.equal(Deno.statSync(second.workDir).ino, inode, "the kept directory was reused");
    assert.deepEqual(names(second.workDir), [".fabric", "tmp"]);
    assert.deepEqual(names(second.metaDir), []);
    assert.deepEqual(names(root), ["t2-1"]);
    await dirs.release(second, true);
  });
});

Deno.test("a task directory the task changed is removed, never handed on", async () => {
  await withRoot(async (root) => {
    const dirs = new WorkDirs(root);
    const changes: Array<(paths: ReturnType<typeof taskPaths>) => void> = [
      (p) => Deno.writeTextFileSync(join(p.tmpDir, "left"), "x"),
      (p) => Deno.writeTextFileSync(p.outputFile, "{}"),
      (p) => Deno.mkdirSync(join(p.workDir, "build")),
      (p) => Deno.chmodSync(p.workDir, 0o500),
      // Still the agent's to use, but not as made: open to all, or with a bit that new files inherit.
      (p) => Deno.chmodSync(p.workDir, 0o777),
      (p) => Deno.chmodSync(p.tmpDir, 0o2755),
      (p) => {
        Deno.removeSync(p.tmpDir);
        Deno.symlinkSync("/etc", p.tmpDir);
      },
    ];
    for (const [i, change] of changes.entries()) {
      const paths = taskPaths(root, `t${i}-1`);
      dirs.make(paths, true);
      change(paths);
      await dirs.release(paths, true);
      assert.deepEqual(names(root), [], `change ${i}: the changed directory was removed, not kept`);
      const next = taskPaths(root, `n${i}-1`);
      dirs.make(next, true);
      assert.deepEqual(names(next.workDir), [".fabric", "tmp"]);
      assert.deepEqual(names(next.tmpDir), []);
      assert.deepEqual(names(next.metaDir), []);
      assert.equal(Deno.statSync(next.workDir).mode! & 0o700, 0o700);
      await dirs.release(next, true);
      Deno.removeSync(join(root, names(root)[0]), { recursive: true });
    }
  });
});

Deno.test("a directory is not kept when the caller cannot be sure the task's processes are gone", async () => {
  await withRoot(async (root) => {
    const dirs = new WorkDirs(root);
    const paths = taskPaths(root, "t-1");
    dirs.make(paths, true);
    await dirs.release(paths, true, { keep: false });
    assert.deepEqual(names(root), []);
  });
});

Deno.test("a sandboxed task's directory (no tmp) and an unsandboxed one's are kept apart", async () => {
  await withRoot(async (root) => {
    const dirs = new WorkDirs(root);
    const sandboxed = taskPaths(root, "s-1");
    dirs.make(sandboxed, false);
    assert.deepEqual(names(sandboxed.workDir), [".fabric"]);
    await dirs.release(sandboxed, false);
    const host = taskPaths(root, "h-1");
    dirs.make(host, true);
    assert.deepEqual(names(host.workDir), [".fabric", "tmp"]);
    const again = taskPaths(root, "s-2");
    dirs.make(again, false);
    assert.deepEqual(names(again.workDir), [".fabric"]);
  });
});

Deno.test("a task directory replaced by a link: the link goes, never what it points to", async () => {
  await withRoot(async (root) => {
    const dirs = new WorkDirs(root);
    const elsewhere = join(root, "..", "elsewhere");
    for (const keep of [true, false]) {
      const paths = taskPaths(root, `t-${keep}`);
      dirs.make(paths, true);
      // What it points to looks just like a task's directory.
      Deno.mkdirSync(join(elsewhere, ".fabric"), { recursive: true });
      Deno.mkdirSync(join(elsewhere, "tmp"), { recursive: true });
      Deno.renameSync(paths.workDir, join(root, "..", `moved-${keep}`));
      Deno.symlinkSync(elsewhere, paths.workDir);
      await dirs.release(paths, true, { keep });
      assert.deepEqual(names(root), [], "the link was removed, not kept");
      assert.deepEqual(names(elsewhere), [".fabric", "tmp"], "nothing it points to was removed");
    }
  });
});

/** Where 50,000 files come and go in a second or two (a tmpfs), or null. */
function fastDir(): string | null {
  try {
    return Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : null;
  } catch {
    return null;
  }
}

Deno.test({
  name: "a directory the task filled with entries is not read through on the agent's thread",
  ignore: fastDir() === null,
  fn: async () => {
    const base = await Deno.makeTempDir({ dir: fastDir()!, prefix: "fabric-workdirs-" });
    try {
      const root = join(base, "work");
      const dirs = new WorkDirs(root);
      const paths = taskPaths(root, "t-1");
      dirs.make(paths, true);
      // Listing them all took ~0.9 s on this thread before anything else could run.
      for (let i = 0; i < 50_000; i++) Deno.writeFileSync(join(paths.metaDir, `f${i}`), new Uint8Array());
      const started = performance.now();
      const released = dirs.release(paths, true);
      const blockedMs = performance.now() - started;
      await released;
      assert.ok(blockedMs < 250, `the release held the thread ${blockedMs.toFixed(0)} ms`);
      assert.deepEqual(names(root), []);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});
