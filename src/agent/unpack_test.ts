import assert from "node:assert/strict";
import { join } from "node:path";
import { packTar, type TarEntry } from "modern-tar";
import { UnpackError, unpackPack } from "./unpack.ts";

const LIMITS = { maxEntries: 100, maxBytes: 1024 * 1024 };

/** A fresh directory holding `task/` (where the pack goes) and the pack file; removed after `body`. */
async function withPack(
  entries: TarEntry[],
  body: (paths: { root: string; task: string; pack: string }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fabric-unpack-" });
  try {
    const task = join(root, "task");
    await Deno.mkdir(task);
    await Deno.mkdir(join(task, ".fabric"));
    const pack = join(root, "pack.tar");
    await Deno.writeFile(pack, await packTar(entries));
    await body({ root, task, pack });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function file(name: string, text: string, mode = 0o644): TarEntry {
  return { header: { name, size: new TextEncoder().encode(text).length, type: "file", mode }, body: text };
}

async function entriesOf(dir: string): Promise<string[]> {
  const found: string[] = [];
  const stack = [""];
  while (stack.length > 0) {
    const sub = stack.pop()!;
    for await (const entry of Deno.readDir(join(dir, sub))) {
      const name = sub === "" ? entry.name : `${sub}/${entry.name}`;
      found.push(name);
      if (entry.isDirectory) stack.push(name);
    }
  }
  return found.sort();
}

Deno.test("a pack's files and folders land in the task's directory, executable bits kept", async () => {
  const entries = [
    { header: { name: "src/", type: "directory" as const, size: 0 } },
    file("src/main.c", "int main() { return 0; }\n"),
    file("tools/run.sh", "#!/bin/sh\necho hi\n", 0o755),
    file("./Makefile", "all:\n"),
  ];
  await withPack(entries, async ({ task, pack }) => {
    assert.deepEqual(await unpackPack(pack, task, LIMITS), { files: 3, bytes: 25 + 18 + 5 });
    assert.deepEqual(await entriesOf(task), [".fabric", "Makefile", "src", "src/main.c", "tools", "tools/run.sh"]);
    assert.equal((await Deno.stat(join(task, "tools/run.sh"))).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(join(task, "Makefile"))).mode! & 0o111, 0);
    assert.equal(await Deno.readTextFile(join(task, "src/main.c")), "int main() { return 0; }\n");
  });
});

// Each hostile pack is refused, and nothing lands outside the task's directory.
const HOSTILE: Array<[string, TarEntry[], RegExp]> = [
  ["a name with ..", [file("../escaped", "x")], /"\.\.\/escaped" \(a file\) is not a path inside/],
  ["a name with .. inside", [file("a/../../escaped", "x")], /is not a path inside/],
  ["an absolute name", [file("/tmp/fabric-unpack-absolute", "x")], /is not a path inside/],
  [
    "a link out, then a file through it",
    [{ header: { name: "out", type: "symlink", size: 0, linkname: ".." } }, file("out/escaped", "x")],
    /"out" is a symlink; a pack holds only files and folders/,
  ],
  [
    "a hard link",
    [{ header: { name: "hard", type: "link", size: 0, linkname: "/etc/passwd" } }],
    /"hard" is a link;/,
  ],
  ["a FIFO", [{ header: { name: "pipe", type: "fifo", size: 0 } }], /"pipe" is a fifo;/],
  ["a device", [{ header: { name: "dev", type: "character-device", size: 0 } }], /"dev" is a character-device;/],
  ["fabric's own folder", [file(".fabric/output.json", "{}")], /in fabric's own "\.fabric" folder/],
  ["the same file twice", [file("a", "1"), file("a", "2")], /holds "a" twice, or it is there already/],
  ["a file where a folder goes", [file("a", "1"), file("a/b", "2")], /the folder "a" is a file too/],
];

for (const [what, entries, message] of HOSTILE) {
  Deno.test(`a pack with ${what} is refused`, async () => {
    await withPack(entries, async ({ root, task, pack }) => {
      await assert.rejects(() => unpackPack(pack, task, LIMITS), (error: Error) => {
        assert.ok(error instanceof UnpackError, String(error));
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual((await entriesOf(root)).filter((name) => !name.startsWith("task")), ["pack.tar"]);
      await assert.rejects(() => Deno.lstat("/tmp/fabric-unpack-absolute"));
    });
  });
}

Deno.test("a pack past its bounds of entries or bytes is refused as it is read", async () => {
  const many = Array.from({ length: 11 }, (_, i) => file(`f${i}`, "x"));
  await withPack(many, async ({ task, pack }) => {
    await assert.rejects(() => unpackPack(pack, task, { maxEntries: 10, maxBytes: 1000 }), /more than 10 entries/);
  });
  await withPack([file("big", "y".repeat(5000))], async ({ task, pack }) => {
    await assert.rejects(() => unpackPack(pack, task, { maxEntries: 10, maxBytes: 4096 }), /more than 4096 bytes/);
  });
});

Deno.test("a pack that is not a tar is refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-unpack-" });
  try {
    await Deno.writeFile(join(root, "pack.tar"), new Uint8Array(2048).fill(0x41));
    await assert.rejects(() => unpackPack(join(root, "pack.tar"), root, LIMITS), UnpackError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("into a folder that holds links already (a git task's checkout), nothing is written through them", async () => {
  await withPack([file("src/evil", "x"), file("Makefile", "all:\n")], async ({ root, task, pack }) => {
    const outside = join(root, "outside");
    await Deno.mkdir(outside);
    // What a hostile repository can hold: a folder that is a link out, a file that is a link out.
    await Deno.symlink(outside, join(task, "src"));
    await assert.rejects(() => unpackPack(pack, task, LIMITS), /the folder "src" is a file too/);
    await Deno.remove(join(task, "src"));
    await Deno.symlink(join(outside, "made"), join(task, "Makefile"));
    await assert.rejects(() => unpackPack(pack, task, LIMITS), /holds "Makefile" twice, or it is there already/);
    assert.deepEqual(await entriesOf(outside), []);
  });
});
