import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readTaskFile, type TaskFile } from "./task_file.ts";

const LIMIT = 64;

function text(file: TaskFile): string | TaskFile {
  return file.kind === "read" ? new TextDecoder().decode(file.bytes) : file;
}

Deno.test("a regular file of the task's own is read whole; none is absent", () => {
  inTempDir((root) => {
    const dir = join(root, "t-1", ".fabric");
    Deno.mkdirSync(dir, { recursive: true });
    assert.deepEqual(readTaskFile(root, join(dir, "output.json"), LIMIT), { kind: "absent" });
    Deno.writeTextFileSync(join(dir, "output.json"), '{"ok": true}');
    assert.equal(text(readTaskFile(root, join(dir, "output.json"), LIMIT)), '{"ok": true}');
    Deno.writeTextFileSync(join(dir, "output.json"), "x".repeat(LIMIT));
    assert.equal(text(readTaskFile(root, join(dir, "output.json"), LIMIT)), "x".repeat(LIMIT));
  });
});

Deno.test("a root reached through a link of the agent's own is fine: only what is below it is checked", () => {
  inTempDir((dir) => {
    Deno.mkdirSync(join(dir, "real", "t-1"), { recursive: true });
    Deno.symlinkSync(join(dir, "real"), join(dir, "root"));
    Deno.writeTextFileSync(join(dir, "real", "t-1", "out"), "[]");
    assert.equal(text(readTaskFile(join(dir, "root"), join(dir, "root", "t-1", "out"), LIMIT)), "[]");
  });
});

Deno.test("links, FIFOs, devices, hard links, links on the way and files over the limit are refused, unread", () => {
  inTempDir((root) => {
    const task = join(root, "t-1");
    const outside = join(root, "outside");
    Deno.mkdirSync(task);
    Deno.mkdirSync(outside);
    Deno.writeTextFileSync(join(outside, "secret"), '"secret"');
    const cases: Array<[string, (path: string) => void, RegExp]> = [
      ["symlink", (p) => Deno.symlinkSync(join(outside, "secret"), p), /^is a symbolic link, not a regular file$/],
      ["to dev zero", (p) => Deno.symlinkSync("/dev/zero", p), /^is a symbolic link/],
      ["fifo", (p) => mkfifo(p), /^is a FIFO, not a regular file$/],
      ["directory", (p) => Deno.mkdirSync(p), /^is a directory, not a regular file$/],
      ["hard link", (p) => Deno.linkSync(join(outside, "secret"), p), /^has other names \(a hard link\)/],
      ["too large", (p) => Deno.writeTextFileSync(p, "x".repeat(LIMIT + 1)), /^holds more than 64 bytes/],
    ];
    for (const [name, make, reason] of cases) {
      const path = join(task, name.replaceAll(" ", "-"));
      make(path);
      const file = readTaskFile(root, path, LIMIT);
      assert.equal(file.kind, "refused", name);
      assert.match((file as { reason: string }).reason, reason, name);
    }
    // The task's own directory replaced by a link: the file at the end is regular, but not the task's.
    Deno.writeTextFileSync(join(outside, "output.json"), '"secret"');
    Deno.symlinkSync(outside, join(root, "t-2"));
    const through = readTaskFile(root, join(root, "t-2", "output.json"), LIMIT);
    assert.deepEqual(through, {
      kind: "refused",
      reason: "is reached through a symbolic link, not a regular file of the task's directory",
    });
  });
});

Deno.test("the file's directory filled with entries is not listed, and the file is still found", () => {
  // On a tmpfs where there is one: 50,000 files come and go there in a second or two.
  inTempDir((root) => {
    const dir = join(root, "t-1", ".fabric");
    Deno.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 50_000; i++) Deno.writeFileSync(join(dir, `f${i}`), new Uint8Array());
    const started = performance.now();
    assert.deepEqual(readTaskFile(root, join(dir, "output.json"), LIMIT), { kind: "absent" });
    // A listing of 50,000 entries takes ~0.4-0.9 s here, and more as the task makes more.
    assert.ok(performance.now() - started < 100, `${performance.now() - started} ms`);
    Deno.writeTextFileSync(join(dir, "output.json"), "{}");
    assert.equal(text(readTaskFile(root, join(dir, "output.json"), LIMIT)), "{}");
  }, existsSync("/dev/shm") ? "/dev/shm" : undefined);
});

function mkfifo(path: string): void {
  const made = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(made.success);
}

function inTempDir(fn: (dir: string) => void, base?: string): void {
  const dir = Deno.makeTempDirSync({ dir: base, prefix: "fabric-task-file-" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
