/**
 * The secret that names a cache directory's mirrors (an HMAC key), kept in the directory itself.
 * A directory without one holds mirrors named otherwise (by an older fabric, by the URL alone,
 * shared across credentials): they are removed when the key is made, never reused.
 */
import { join } from "node:path";

const KEY_FILE = "mirrors.key";

/** One cache directory's key: loaded (or made) once; a failed load is tried again on the next call. */
export class MirrorKey {
  readonly cacheDir: string;
  #key: Promise<CryptoKey> | null = null;

  constructor(cacheDir: string) {
    this.cacheDir = cacheDir;
  }

  /** The key; `isMirror` tells which entries to remove if the directory has none yet. */
  get(isMirror: (name: string) => boolean): Promise<CryptoKey> {
    if (this.#key === null) {
      const key = loadOrCreate(this.cacheDir, isMirror);
      this.#key = key;
      key.catch(() => {
        if (this.#key === key) this.#key = null;
      });
    }
    return this.#key;
  }
}

async function loadOrCreate(cacheDir: string, isMirror: (name: string) => boolean): Promise<CryptoKey> {
  const path = join(cacheDir, KEY_FILE);
  let hex: string | null = null;
  try {
    hex = (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (hex === null || !/^[0-9a-f]{64}$/.test(hex)) {
    for await (const entry of Deno.readDir(cacheDir)) {
      // A key file half-written by a crash goes too.
      const stale = isMirror(entry.name) || entry.name.startsWith(`${KEY_FILE}.tmp-`);
      if (stale) await Deno.remove(join(cacheDir, entry.name), { recursive: true });
    }
    hex = Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, "0"))
      .join("");
    const temporary = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(temporary, `${hex}\n`, { mode: 0o600, createNew: true });
    await Deno.rename(temporary, path);
  }
  const bytes = new Uint8Array(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
  return await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}
