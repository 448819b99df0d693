/**
 * Uploading a task's artifacts ends when the task is cancelled or the agent stops: what is stored
 * whole is kept, the rest is said. The tracker is stood in for by an object whose chunk upload
 * waits until it is aborted (as a slow tracker's would); the real one is in tests/artifacts_e2e_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { BlobRef } from "../protocol/mod.ts";
import { uploadArtifacts } from "./artifacts.ts";

Deno.test("a stop while an artifact uploads ends the upload: the files stored before are kept, the rest said", async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-artifacts-" });
  try {
    const dir = join(root, "task");
    await Deno.mkdir(join(dir, "out"), { recursive: true });
    await Deno.writeTextFile(join(dir, "out/a.txt"), "small");
    await Deno.writeFile(join(dir, "out/b.bin"), new Uint8Array(9 * 1024 * 1024).fill(7));
    await Deno.writeTextFile(join(dir, "out/c.txt"), "after");
    const stored = new Map<string, number>();
    const stop = new AbortController();
    let hung = 0;
    const client = {
      blobInfo: (sha256: string) => Promise.resolve(stored.has(sha256) ? { sha256, size: stored.get(sha256)! } : null),
      putBlobChunk: (_sha256: string, seq: number, data: Uint8Array, signal?: AbortSignal) => {
        if (data.byteLength < 1024 * 1024 || seq === 0) return Promise.resolve();
        // The second chunk of the big file: held until the stop, and the stop is sent once it is held.
        hung++;
        queueMicrotask(() => stop.abort(new Error("cancelled")));
        return new Promise<void>((_, reject) => signal!.addEventListener("abort", () => reject(signal!.reason)));
      },
      completeBlob: (sha256: string, size: number): Promise<BlobRef> => {
        stored.set(sha256, size);
        return Promise.resolve({ sha256, size });
      },
    };
    const said: string[] = [];
    const kept = await uploadArtifacts({
      root,
      dir,
      skip: [".fabric"],
      rule: { paths: ["out/"], when: "always" },
      client,
      say: (line) => said.push(line),
      signal: stop.signal,
    });
    assert.equal(hung, 1);
    assert.deepEqual(kept.map((a) => a.path), ["out/a.txt"]);
    assert.deepEqual(said, ["2 artifact(s) not kept: the task was stopped while they were uploaded"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
