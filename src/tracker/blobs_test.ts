/** The tracker's side of uploads, on a real SQLite store: a stray chunk cannot block a blob. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BLOB_CHUNK_BYTES, EMPTY_SHA256, systemClock } from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { Blobs, recordArtifacts } from "./blobs.ts";

Deno.test("a chunk sent past a blob's end does not keep it from completing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-blobs-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  try {
    const blobs = new Blobs(store, systemClock);
    const data = new TextEncoder().encode("the whole blob");
    const sha256 = createHash("sha256").update(data).digest("hex");
    // Whoever can upload sends a chunk the blob does not have (a hostile client, or a retry gone wrong).
    await blobs.putChunk(sha256, 7, new TextEncoder().encode("stray"));
    await blobs.putChunk(sha256, 0, data);
    assert.deepEqual(await blobs.complete(sha256, data.byteLength), { sha256, size: data.byteLength });
    assert.deepEqual(await blobs.readChunk(sha256, 0), data);
    await assert.rejects(blobs.readChunk(sha256, 7), /No chunk 7/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an artifact reported with a size that is not its blob's (none, short, or empty but named) is not kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-blobs-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  try {
    const blobs = new Blobs(store, systemClock);
    const data = new TextEncoder().encode("an artifact's bytes");
    const sha256 = createHash("sha256").update(data).digest("hex");
    await blobs.putChunk(sha256, 0, data);
    await blobs.complete(sha256, data.byteLength);
    const logged: string[] = [];
    const artifacts = [
      { path: "empty-but-named", sha256, size: 0 },
      { path: "short", sha256, size: data.byteLength - 1 },
      { path: "long", sha256, size: data.byteLength + 1 },
      { path: "right", sha256, size: data.byteLength },
      { path: "empty", sha256: EMPTY_SHA256, size: 0 },
    ];
    const kept = await recordArtifacts(store, [{ jobId: "j", taskId: "j.1", attempt: 1, artifacts }], {
      now: 1,
      log: (line) => logged.push(line),
    });
    assert.deepEqual(kept.get("j.1")!.map((a) => a.path), ["right", "empty"]);
    assert.deepEqual((await store.listArtifacts("j.1")).map((a) => a.path).sort(), ["empty", "right"]);
    assert.match(logged.join("\n"), /3 artifact\(s\) not kept: .*"empty-but-named".*size/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an upload hashed as it arrives completes without reading it back; one whose stored chunk is another's is read back and refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-blobs-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  try {
    let readBack = 0;
    // The real store, its reads of chunks counted.
    const counted = new Proxy(store, {
      get(target, name) {
        if (name === "readBlobChunk") return (sha: string, seq: number) => (readBack++, target.readBlobChunk(sha, seq));
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const blobs = new Blobs(counted, systemClock, { soleWriter: true });
    const data = new Uint8Array(BLOB_CHUNK_BYTES + 10).fill(7);
    const sha256 = createHash("sha256").update(data).digest("hex");
    await blobs.putChunk(sha256, 0, data.subarray(0, BLOB_CHUNK_BYTES));
    await blobs.putChunk(sha256, 1, data.subarray(BLOB_CHUNK_BYTES));
    assert.deepEqual(await blobs.complete(sha256, data.byteLength), { sha256, size: data.byteLength });
    assert.equal(readBack, 0, "hashed as it came");

    // A chunk stored before (another upload's, with other bytes): the right bytes sent now are not
    // what the store keeps, so the hash of what was sent proves nothing. Read back, and refused.
    const good = new TextEncoder().encode("the bytes named");
    const named = createHash("sha256").update(good).digest("hex");
    await store.putBlobChunk(named, 0, new TextEncoder().encode("other bytes!!!!"), 1);
    await blobs.putChunk(named, 0, good);
    await assert.rejects(blobs.complete(named, good.byteLength), /hash to/);
    assert.equal(readBack, 1);
    // Sent again whole, it completes.
    await blobs.putChunk(named, 0, good);
    assert.deepEqual(await blobs.complete(named, good.byteLength), { sha256: named, size: good.byteLength });

    // The same chunk twice at once with different bytes: whichever the store keeps is read back.
    const twice = createHash("sha256").update(good).update("x").digest("hex");
    await Promise.all([blobs.putChunk(twice, 0, good), blobs.putChunk(twice, 0, new Uint8Array(3))]);
    const before = readBack;
    await assert.rejects(blobs.complete(twice, good.byteLength), /hash to|holds/);
    assert.equal(readBack, before + 1);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
