/**
 * The SHA-256 of uploads as their chunks arrive, so that completing one need not read it all back
 * from the store (a 1 GB artifact was read back whole: B6, docs/performance.md). A running hash is
 * trusted only when every chunk of the blob came in order through this tracker and was stored by its
 * own call (the store says so), with full chunks before the last; anything else (a chunk out of order
 * or sent twice, one stored before, a failed write, a dropped upload) forgets it, and completing reads
 * the chunks back as before. Used only where this tracker is the store's one writer (SQLite): on a
 * shared store another tracker could drop and rewrite chunks between this one's writes.
 */
import { createHash, type Hash } from "node:crypto";
import { BLOB_CHUNK_BYTES } from "../protocol/mod.ts";

interface Running {
  hash: Hash;
  /** The chunk expected next. */
  next: number;
  /** Chunks stored by this tracker's own call, of those hashed. */
  stored: number;
  bytes: number;
  /** The last chunk hashed was shorter than a full one: nothing may follow it. */
  short: boolean;
}

/** At most this many uploads are followed at once (the oldest is forgotten first: it reads back). */
const MAX_UPLOADS = 32;

export class UploadHashes {
  #uploads = new Map<string, Running>();

  /** A chunk arrives, before it is stored: hashed if it is the next one, else the upload is forgotten. */
  arriving(sha256: string, seq: number, data: Uint8Array): void {
    let running = this.#uploads.get(sha256);
    if (seq === 0 && running === undefined) {
      running = { hash: createHash("sha256"), next: 0, stored: 0, bytes: 0, short: false };
      this.#uploads.set(sha256, running);
      if (this.#uploads.size > MAX_UPLOADS) this.#uploads.delete(this.#uploads.keys().next().value!);
    }
    if (running === undefined) return;
    if (seq !== running.next || running.short) return this.forget(sha256);
    running.hash.update(data);
    running.next++;
    running.bytes += data.byteLength;
    running.short = data.byteLength < BLOB_CHUNK_BYTES;
  }

  /** Its write ended: `stored` when this call stored it (else the stored bytes may be another's). */
  written(sha256: string, stored: boolean): void {
    const running = this.#uploads.get(sha256);
    if (running === undefined) return;
    if (stored) running.stored++;
    else this.forget(sha256);
  }

  forget(sha256: string): void {
    this.#uploads.delete(sha256);
  }

  /**
   * The hash of the upload if exactly `chunks` chunks of `size` bytes were hashed and stored here, else
   * null (read it back); forgotten either way.
   */
  take(sha256: string, size: number, chunks: number): string | null {
    const running = this.#uploads.get(sha256);
    this.#uploads.delete(sha256);
    if (running === undefined || running.next !== chunks || running.stored !== chunks || running.bytes !== size) {
      return null;
    }
    return running.hash.digest("hex");
  }
}
