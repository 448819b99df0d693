/**
 * A blob to and from a tracker, a chunk per request (protocol/blob.ts): the one upload loop and the
 * one download loop the CLI (packs, `fabric artifacts get`) and agents (artifacts, packs) share.
 * Neither holds more than a chunk; a download is checked against its size and SHA-256 as it comes;
 * both end at once when `signal` aborts (a cancelled task, a stopping agent).
 */
// Not the protocol's mod.ts: every command loads the client, and must not build every schema for it.
import { BLOB_CHUNK_BYTES, chunkCount } from "../protocol/blob_chunks.ts";
import type { BlobRef } from "../protocol/blob.ts";
import type { FabricClient } from "./http_client.ts";

/** Bytes of a source at a position (an open file's `pread`): fewer only at its end. */
export type ReadAt = (buffer: Uint8Array, position: number) => Promise<number>;

export type BlobUploadClient = Pick<FabricClient, "blobInfo" | "putBlobChunk" | "completeBlob">;
export type BlobDownloadClient = Pick<FabricClient, "readBlobChunk">;

export interface TransferOptions {
  /** Ends the transfer, between requests and within one. */
  signal?: AbortSignal;
  /** Tries of one request while the tracker cannot be reached or cannot serve (a restart); 1: no retry. */
  tries?: number;
  /** Called once a chunk is stored (an upload's): a test's hook holds the upload there. */
  afterChunk?: (seq: number) => Promise<void>;
}

/** `blob`, read from `readAt`, uploaded unless the tracker holds it whole already. */
export async function uploadBlob(
  client: BlobUploadClient,
  blob: BlobRef,
  readAt: ReadAt,
  options: TransferOptions = {},
): Promise<void> {
  const { signal } = options;
  const tried = <T>(call: () => Promise<T>) => withRetries(call, options);
  if ((await tried(() => client.blobInfo(blob.sha256, signal))) !== null) return;
  const chunk = new Uint8Array(BLOB_CHUNK_BYTES);
  for (let seq = 0; seq < chunkCount(blob.size); seq++) {
    signal?.throwIfAborted();
    let filled = 0;
    while (filled < chunk.length) {
      const read = await readAt(chunk.subarray(filled), seq * BLOB_CHUNK_BYTES + filled);
      if (read === 0) break;
      filled += read;
    }
    const data = chunk.subarray(0, filled);
    await tried(() => client.putBlobChunk(blob.sha256, seq, data, signal));
    await options.afterChunk?.(seq);
  }
  signal?.throwIfAborted();
  await tried(() => client.completeBlob(blob.sha256, blob.size, signal));
}

/** The blob's bytes, handed to `write` a chunk at a time; a BlobMismatchError once they are not `ref`'s. */
export async function downloadBlob(
  client: BlobDownloadClient,
  ref: BlobRef,
  write: (chunk: Uint8Array) => Promise<void>,
  options: TransferOptions = {},
): Promise<void> {
  const { signal } = options;
  // Loaded when a blob comes (node:crypto costs every command ~50 ms of CPU to load).
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  let size = 0;
  for (let seq = 0; seq < chunkCount(ref.size); seq++) {
    signal?.throwIfAborted();
    const chunk = await withRetries(() => client.readBlobChunk(ref.sha256, seq, signal), options);
    size += chunk.byteLength;
    if (chunk.byteLength > BLOB_CHUNK_BYTES || size > ref.size) {
      throw new BlobMismatchError(`the tracker sent more than the ${ref.size} bytes`);
    }
    hash.update(chunk);
    await write(chunk);
  }
  const actual = hash.digest("hex");
  if (size !== ref.size || actual !== ref.sha256) {
    throw new BlobMismatchError(`as downloaded (${size} bytes, SHA-256 ${actual}) it is not the blob named`);
  }
}

/** What was downloaded is not the blob asked for. */
export class BlobMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobMismatchError";
  }
}

/** `call`, tried again while the tracker cannot be reached or cannot serve (a restart); a refusal is final. */
export async function withRetries<T>(call: () => Promise<T>, options: TransferOptions = {}): Promise<T> {
  const tries = options.tries ?? 1;
  for (let tried = 1;; tried++) {
    try {
      return await call();
    } catch (error) {
      const code = (error as { code?: string }).code;
      const transient = code === undefined || code === "unavailable";
      if (!transient || tried >= tries || options.signal?.aborted) throw error;
      await pause(Math.min(5000, 250 * 2 ** tried), options.signal);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
    };
    const aborted = () => (done(), reject(signal!.reason));
    const timer = setTimeout(() => (done(), resolve()), ms);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
