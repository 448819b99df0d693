/**
 * The artifacts a task starts with, as hostile input: what the tracker names is placed only inside the
 * task's directory, never through a link or over a file already there, and only bytes whose hash
 * matches. The blobs come from a map standing in for the tracker's chunk route (the real one is
 * tested end to end in tests/pipeline_e2e_test.ts).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BLOB_CHUNK_BYTES, EMPTY_SHA256 } from "../protocol/mod.ts";
import { placeInputs } from "./inputs.ts";
import { PackCache } from "./pack_cache.ts";
import { UnpackError } from "./unpack.ts";

const TEXT = "hello\n";
const SHA = createHash("sha256").update(TEXT).digest("hex");

async function withDirs(
  served: Map<string, Uint8Array>,
  body: (paths: { root: string; task: string; cache: PackCache; said: string[] }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fabric-inputs-" });
  try {
    const task = join(root, "task");
    await Deno.mkdir(join(task, ".fabric"), { recursive: true });
    const client = {
      readBlobChunk: (sha256: string, seq: number) => {
        const data = served.get(sha256);
        if (!data) return Promise.reject(new Error("no such blob"));
        return Promise.resolve(data.subarray(seq * BLOB_CHUNK_BYTES, (seq + 1) * BLOB_CHUNK_BYTES));
      },
    };
    const cache = new PackCache({ dir: join(root, "cache"), client, maxBytes: 1 << 20 });
    await body({ root, task, cache, said: [] });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const one = (path: string, folder = "", sha256 = SHA, size = TEXT.length) => [
  { task: "build", copy: "build", folder, artifacts: [{ path, sha256, size }] },
];
const good = new Map([[SHA, new TextEncoder().encode(TEXT)]]);

Deno.test("artifacts land at their paths, a fan-out's copies in their folders, empty ones without a download", () =>
  withDirs(good, async ({ task, cache, said }) => {
    const inputs = [
      { task: "build", copy: "build", folder: "", artifacts: [{ path: "dist/a.txt", sha256: SHA, size: 6 }] },
      { task: "t", copy: "t[0]", folder: "t/0", artifacts: [{ path: "r.txt", sha256: SHA, size: 6 }] },
      { task: "t", copy: "t[1]", folder: "t/1", artifacts: [{ path: "e", sha256: EMPTY_SHA256, size: 0 }] },
    ];
    const placed = await placeInputs(inputs, task, cache, { say: (line) => said.push(line) });
    assert.deepEqual(placed, { files: 3, bytes: 12 });
    assert.equal(await Deno.readTextFile(join(task, "dist/a.txt")), TEXT);
    assert.equal(await Deno.readTextFile(join(task, "t/0/r.txt")), TEXT);
    assert.equal(await Deno.readTextFile(join(task, "t/1/e")), "");
    assert.deepEqual(said, [
      "artifacts of build: 1 file(s), 6B",
      "artifacts of t[0]: 1 file(s), 6B into t/0/",
      "artifacts of t[1]: 1 file(s), 0B into t/1/",
    ]);
  }));

Deno.test("a path out of the directory, into .fabric, through a link, or over a file there is refused; nothing is written outside", () =>
  withDirs(good, async ({ root, task, cache }) => {
    const place = (inputs: unknown) => placeInputs(inputs, task, cache, { say: () => {} });
    await assert.rejects(place(one("../evil")), (e) => e instanceof UnpackError && /not a path inside/.test(e.message));
    await assert.rejects(place(one("/etc/evil")), /not a path inside/);
    await assert.rejects(place(one("x", "..")), /not a path inside/);
    await assert.rejects(place(one(".fabric/output.json")), /fabric's own ".fabric" folder/);
    // A link where a folder goes (the task cannot have made one yet; a pack could have): not followed.
    await Deno.mkdir(join(root, "outside"));
    await Deno.symlink(join(root, "outside"), join(task, "linked"));
    await assert.rejects(place(one("linked/x")), /the folder "linked" is a file too/);
    await Deno.symlink(join(root, "outside", "target"), join(task, "dangling"));
    await assert.rejects(place(one("dangling")), /would replace a file already in the task's directory/);
    await Deno.writeTextFile(join(task, "Makefile"), "mine");
    await assert.rejects(place(one("Makefile")), /would replace a file/);
    assert.equal(await Deno.readTextFile(join(task, "Makefile")), "mine");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(root, "outside"))), []);
  }));

Deno.test("bytes that are not the named blob, a bad shape, and too many files are refused before anything lands", () =>
  withDirs(new Map([[SHA, new TextEncoder().encode("HELLO\n")]]), async ({ task, cache }) => {
    const place = (inputs: unknown) => placeInputs(inputs, task, cache, { say: () => {} });
    await assert.rejects(place(one("a.txt")), /as downloaded .* not the blob named/);
    await assert.rejects(Deno.lstat(join(task, "a.txt")));
    await assert.rejects(place(one("a.txt", "", "nothex")), /not named as an agent reads it/);
    await assert.rejects(place(one("a.txt", "", SHA, 0)), /not named as an agent reads it/);
    await assert.rejects(place({ not: "a list" }), /not a list/);
    const many = Array.from({ length: 100_001 }, (_, i) => ({ path: `f${i}`, sha256: EMPTY_SHA256, size: 0 }));
    await assert.rejects(place([{ task: "b", copy: "b", folder: "", artifacts: many }]), /more than 100000 files/);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(task))).map((e) => e.name), [".fabric"]);
  }));
