/**
 * The packs of jobs' `files:` on this agent (and the artifacts tasks start with, inputs.ts): each downloaded once (a chunk per request, never whole in
 * memory), checked against its SHA-256 before it is kept, in the agent's data directory (no task
 * sees it), and unpacked from there into each task's directory. Tasks of one job that start at once
 * share one download. The cache is bounded: past `maxBytes`, the packs used longest ago (and not in
 * use) go. It starts empty: what an earlier run left is removed.
 */
import { join } from "node:path";
import { type BlobDownloadClient, downloadBlob } from "../client/mod.ts";
import type { BlobRef } from "../protocol/mod.ts";

export interface PackCacheOptions {
  dir: string;
  client: BlobDownloadClient;
  /** Bytes of packs kept at most (one larger pack is still downloaded, and dropped after use). */
  maxBytes: number;
}

interface Entry {
  ref: BlobRef;
  path: string;
  ready: Promise<void>;
  users: number;
  lastUsed: number;
}

/** The cache's default bound. */
export const DEFAULT_PACK_CACHE_BYTES = 2 * 1024 ** 3;

export class PackCache {
  #o: PackCacheOptions;
  #entries = new Map<string, Entry>();
  #cleared: Promise<void>;
  #uses = 0;

  constructor(options: PackCacheOptions) {
    this.#o = options;
    this.#cleared = Deno.remove(options.dir, { recursive: true }).catch(() => {}).then(() =>
      Deno.mkdir(options.dir, { recursive: true, mode: 0o700 })
    );
  }

  /**
   * Run `use` with the path of the pack's file, downloaded and checked first if it is not here. While
   * `use` runs, the file stays. `signal` ends this task's wait, not the download the job's other tasks
   * may share.
   */
  async with<T>(
    ref: BlobRef,
    use: (path: string) => Promise<T>,
    signal?: AbortSignal,
    what = "the job's files",
  ): Promise<T> {
    await this.#cleared;
    let entry = this.#entries.get(ref.sha256);
    if (!entry || entry.ref.size !== ref.size) {
      const path = join(this.#o.dir, `${ref.sha256}.tar`);
      const made: Entry = { ref, path, ready: Promise.resolve(), users: 0, lastUsed: 0 };
      made.ready = this.#download(ref, path, what);
      // A download that fails is forgotten: the next task tries again.
      made.ready.catch(() => this.#entries.get(ref.sha256) === made && this.#entries.delete(ref.sha256));
      this.#entries.set(ref.sha256, made);
      entry = made;
    }
    entry.users++;
    entry.lastUsed = ++this.#uses;
    try {
      await untilAborted(entry.ready, signal);
      return await use(entry.path);
    } finally {
      entry.users--;
      await this.#trim();
    }
  }

  async #download(ref: BlobRef, path: string, what: string): Promise<void> {
    const partial = join(this.#o.dir, `.partial-${ref.sha256}-${crypto.randomUUID()}`);
    const out = await Deno.open(partial, { write: true, createNew: true, mode: 0o600 });
    try {
      await downloadBlob(this.#o.client, ref, async (chunk) => {
        for (let at = 0; at < chunk.byteLength;) at += await out.write(chunk.subarray(at));
      });
      out.close();
      await Deno.rename(partial, path);
    } catch (error) {
      try {
        out.close();
      } catch { /* closed above */ }
      await Deno.remove(partial).catch(() => {});
      throw new Error(`cannot download ${what}: ${(error as Error).message}`);
    }
  }

  /** Past the bound: the packs used longest ago and in use by no task, removed. */
  async #trim(): Promise<void> {
    let total = 0;
    for (const entry of this.#entries.values()) total += entry.ref.size;
    if (total <= this.#o.maxBytes) return;
    const idle = [...this.#entries.values()].filter((e) => e.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of idle) {
      if (total <= this.#o.maxBytes) break;
      this.#entries.delete(entry.ref.sha256);
      total -= entry.ref.size;
      await Deno.remove(entry.path).catch(() => {});
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
