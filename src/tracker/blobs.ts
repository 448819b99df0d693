/**
 * Blobs on the tracker (protocol/blob.ts): an upload comes a chunk per request and is checked against
 * its hash, read back chunk by chunk from the store, before any job may use it; a download goes a chunk
 * per request too. Nothing here holds more than one chunk. The store keeps them (store/blobs.ts), so
 * every tracker on a shared database serves every blob.
 */
import { createHash } from "node:crypto";
import {
  type ArtifactRef,
  BLOB_CHUNK_BYTES,
  type BlobRef,
  chunkCount,
  type Clock,
  EMPTY_SHA256,
  FabricError,
  type JobSpec,
  MAX_BLOB_BYTES,
  sha256Schema,
  taskFilePatterns,
} from "../protocol/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import { UploadHashes } from "./upload_hashes.ts";

export class Blobs {
  #store: BlobStore;
  #clock: Clock;
  /** Hashes of uploads as they arrive, where this tracker is the store's one writer (upload_hashes.ts). */
  #hashes: UploadHashes | null;

  constructor(store: BlobStore, clock: Clock, options: { soleWriter: boolean } = { soleWriter: false }) {
    this.#store = store;
    this.#clock = clock;
    this.#hashes = options.soleWriter ? new UploadHashes() : null;
  }

  /** A complete blob's size; a 404 for one that is not (yet) stored whole. */
  async info(sha256: string): Promise<BlobRef> {
    const blob = await this.#store.getBlob(checkHash(sha256));
    if (!blob?.complete) throw new FabricError("not_found", `No blob ${sha256}`);
    return { sha256, size: blob.size };
  }

  /** Keep one chunk of an upload. A blob stored whole already keeps its chunks (this one is dropped). */
  async putChunk(sha256: string, seq: number, data: Uint8Array): Promise<void> {
    checkHash(sha256);
    const chunks = chunkCount(MAX_BLOB_BYTES);
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= chunks) {
      throw new FabricError("bad_request", `A chunk's number must be from 0 to ${chunks - 1}, got ${seq}`);
    }
    if (data.byteLength === 0 || data.byteLength > BLOB_CHUNK_BYTES) {
      throw new FabricError("bad_request", `A chunk holds 1 to ${BLOB_CHUNK_BYTES} bytes, got ${data.byteLength}`);
    }
    // Hashed as it arrives, in the order chunks come (before any wait: a chunk sent twice at once is seen).
    this.#hashes?.arriving(sha256, seq, data);
    let stored = false;
    try {
      if ((await this.#store.getBlob(sha256))?.complete) return;
      stored = await this.#store.putBlobChunk(sha256, seq, data, this.#clock.now());
    } finally {
      this.#hashes?.written(sha256, stored);
    }
  }

  /**
   * Every chunk is uploaded: they must be exactly `size` bytes in full chunks (the last one shorter)
   * whose SHA-256 is the blob's name; then jobs may use it. An upload that does not match is dropped,
   * to be sent again.
   */
  async complete(sha256: string, size: number): Promise<BlobRef> {
    checkHash(sha256);
    const stored = await this.#store.getBlob(sha256);
    if (stored?.complete) return { sha256, size: stored.size };
    // An empty file needs no blob: no job sends one.
    if (size === 0) throw new FabricError("bad_request", "An empty blob is not stored");
    const chunks = chunkCount(size);
    const actual = this.#hashes?.take(sha256, size, chunks) ?? await this.#readBack(sha256, size, chunks);
    if (actual !== sha256) {
      await this.#store.dropUpload(sha256);
      throw new FabricError("bad_request", `The chunks uploaded as blob ${sha256} hash to ${actual}; upload it again`);
    }
    const done = await this.#store.completeBlob(sha256, { size, chunks, now: this.#clock.now() });
    if (!done && !(await this.#store.getBlob(sha256))?.complete) {
      // Dropped, so that sending it again starts afresh (chunks are never overwritten).
      await this.#store.dropUpload(sha256);
      throw new FabricError("conflict", `Blob ${sha256} changed while it was checked; upload it again`);
    }
    return { sha256, size };
  }

  /** The SHA-256 of an upload's chunks as stored, each checked for its size (a wrong one drops the upload). */
  async #readBack(sha256: string, size: number, chunks: number): Promise<string> {
    const hash = createHash("sha256");
    for (let seq = 0; seq < chunks; seq++) {
      const data = await this.#store.readBlobChunk(sha256, seq);
      const expected = seq < chunks - 1 ? BLOB_CHUNK_BYTES : size - seq * BLOB_CHUNK_BYTES;
      if (data === null) throw new FabricError("bad_request", `Blob ${sha256}: chunk ${seq} was not uploaded`);
      if (data.byteLength !== expected) {
        await this.#store.dropUpload(sha256);
        throw new FabricError(
          "bad_request",
          `Blob ${sha256}: chunk ${seq} holds ${data.byteLength} bytes, not ${expected}; upload it again`,
        );
      }
      hash.update(data);
    }
    return hash.digest("hex");
  }

  /** One chunk of a complete blob. */
  async readChunk(sha256: string, seq: number): Promise<Uint8Array> {
    const blob = await this.#store.getBlob(checkHash(sha256));
    if (!blob?.complete || !Number.isSafeInteger(seq) || seq < 0 || seq >= chunkCount(blob.size)) {
      throw new FabricError("not_found", `No chunk ${seq} of blob ${sha256}`);
    }
    const data = await this.#store.readBlobChunk(sha256, seq);
    if (data === null) throw new FabricError("not_found", `No chunk ${seq} of blob ${sha256}`);
    return data;
  }

  /**
   * The job's packs, checked against its file (each task with `files:` has its pack, and no other task
   * one), recorded as used by the job (retention keeps them as long as it): a 400 naming what was not
   * uploaded.
   */
  async use(jobId: string, spec: JobSpec, packs: Record<string, BlobRef>): Promise<void> {
    const named = new Set<string>();
    for (const task of spec.tasks) {
      // A script task may have a pack without files: its modules (the submitter's CLI follows its imports).
      if (task.script !== undefined) named.add(task.name);
      const patterns = taskFilePatterns(spec, task);
      if (patterns === null) continue;
      named.add(task.name);
      if (!packs[task.name]) {
        throw new FabricError(
          "invalid_job",
          `The job is invalid: task "${task.name}" names files, and no pack of them was sent (fabric submit packs them)`,
        );
      }
    }
    const extra = Object.keys(packs).find((name) => !named.has(name));
    if (extra !== undefined) {
      throw new FabricError(
        "invalid_job",
        `The job is invalid: a pack was sent for "${extra}", which names no files and is no script task`,
      );
    }
    const unique = new Map<string, BlobRef>();
    for (const ref of Object.values(packs)) unique.set(ref.sha256, ref);
    if (unique.size === 0) return;
    for (const ref of unique.values()) {
      const blob = await this.#store.getBlob(ref.sha256);
      if (blob?.complete && blob.size !== ref.size) {
        throw new FabricError(
          "invalid_job",
          `The job is invalid: blob ${ref.sha256} holds ${blob.size} bytes, not ${ref.size}`,
        );
      }
    }
    const missing = await this.#store.useBlobs(jobId, [...unique.keys()], this.#clock.now());
    if (missing.length > 0) {
      throw new FabricError(
        "invalid_job",
        `The job is invalid: its files (blob ${missing[0]}) were not uploaded, or are gone; submit it again`,
      );
    }
  }
}

/** A finished attempt's artifacts, as its agent reported them. */
export interface ReportedArtifacts {
  jobId: string;
  taskId: string;
  attempt: number;
  artifacts: ArtifactRef[];
}

/**
 * Keep the artifacts of finished attempts (each blob stored whole already, by the agent, before it
 * reported): the store has them before the attempt is recorded as ended. An artifact whose blob is not
 * stored, or whose size is not its blob's (an empty one is named by the hash of nothing), is left out,
 * and said: a size that lies would make a download fail its check, and an empty one keeps no blob
 * alive under retention. Returns what was kept, by task id.
 */
export async function recordArtifacts(
  store: BlobStore,
  reported: ReportedArtifacts[],
  options: { now: number; log: (line: string) => void },
): Promise<Map<string, ArtifactRef[]>> {
  const kept = new Map<string, ArtifactRef[]>();
  for (const r of reported) {
    const sizes = new Map<string, number | null>();
    const wrong: string[] = [];
    const sized: ArtifactRef[] = [];
    for (const artifact of r.artifacts) {
      if (!sizes.has(artifact.sha256)) {
        const blob = artifact.sha256 === EMPTY_SHA256 ? null : await store.getBlob(artifact.sha256);
        sizes.set(artifact.sha256, artifact.sha256 === EMPTY_SHA256 ? 0 : blob?.complete ? blob.size : null);
      }
      const size = sizes.get(artifact.sha256);
      if (size === null || size === artifact.size) sized.push(artifact);
      else wrong.push(`"${artifact.path.slice(0, 200)}" (${artifact.size} bytes, its blob ${size})`);
    }
    const missing = new Set(await store.recordArtifacts({ ...r, artifacts: sized, now: options.now }));
    const dropped = sized.filter((a) => a.size > 0 && missing.has(a.sha256)).length;
    if (wrong.length + dropped > 0) {
      options.log(
        `task ${r.taskId} attempt ${r.attempt}: ${wrong.length + dropped} artifact(s) not kept: ` +
          [...(dropped > 0 ? [`${dropped} whose blobs are not stored`] : []), ...wrong.map((w) => `${w}: size differs`)]
            .slice(0, 4).join("; "),
      );
    }
    kept.set(r.taskId, sized.filter((a) => a.size === 0 || !missing.has(a.sha256)));
  }
  return kept;
}

function checkHash(sha256: string): string {
  if (!sha256Schema.safeParse(sha256).success) {
    throw new FabricError(
      "bad_request",
      `A blob is named by its SHA-256 (64 lowercase hex digits), got "${sha256.slice(0, 80)}"`,
    );
  }
  return sha256;
}
