/**
 * The key that seals secrets at rest: 32 random bytes, in the tracker's data directory (`secrets.key`,
 * mode 0600), never in the store. Each value is sealed with AES-256-GCM under a nonce of its own, with
 * the secret's name as associated data: a sealed value copied to another name does not open.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";

export const SECRETS_KEY_FILE = "secrets.key";
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed {
  nonce: string;
  sealed: string;
}

export class SecretKey {
  /** Names the key without giving it away (an HMAC of a constant), so that a record says which key sealed it. */
  readonly id: string;
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new RangeError(`A secrets key is ${KEY_BYTES} bytes, got ${key.length}`);
    this.#key = key;
    this.id = createHmac("sha256", key).update("fabric secrets key id").digest("hex").slice(0, 16);
  }

  /** A key of its own for a tracker that is given none (tests): what it seals is lost with it. */
  static random(): SecretKey {
    return new SecretKey(new Uint8Array(randomBytes(KEY_BYTES)));
  }

  seal(name: string, value: string): Sealed {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, nonce);
    cipher.setAAD(new TextEncoder().encode(name));
    const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return { nonce: nonce.toString("base64"), sealed: body.toString("base64") };
  }

  /** The value, or null when it does not open under this key and name (another key, or altered). */
  open(name: string, sealed: Sealed): string | null {
    try {
      const body = Buffer.from(sealed.sealed, "base64");
      if (body.length < TAG_BYTES) return null;
      const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(sealed.nonce, "base64"));
      decipher.setAAD(new TextEncoder().encode(name));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()])
        .toString("utf8");
    } catch {
      return null;
    }
  }
}

/**
 * The data directory's key, made on the first start. A key file that is there but not a key is an
 * error, never replaced: the secrets sealed with it would be lost.
 */
export async function loadSecretKey(dataDir: string): Promise<{ key: SecretKey; created: boolean }> {
  const path = join(dataDir, SECRETS_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return { key: new SecretKey(existing), created: false };
  const key = new Uint8Array(randomBytes(KEY_BYTES));
  // Written whole under another name, then linked into place: a crash leaves no half key, and a key
  // that appeared meanwhile is kept (the link fails).
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, Buffer.from(key).toString("base64") + "\n", { createNew: true, mode: 0o600 });
    await Deno.chmod(temp, 0o600);
    await Deno.link(temp, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw keyError(path, error);
    const raced = await readKeyFile(path);
    if (raced) return { key: new SecretKey(raced), created: false };
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  return { key: new SecretKey(key), created: true };
}

async function readKeyFile(path: string): Promise<Uint8Array | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw keyError(path, error);
  }
  if (!info.isFile) throw keyError(path, new Error("it is not a regular file"));
  if (info.size > 1024) throw keyError(path, new Error("it is too large to be a key"));
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (error) {
    throw keyError(path, error);
  }
  const bytes = /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, "base64") : null;
  if (bytes === null || bytes.length !== KEY_BYTES) {
    throw keyError(path, new Error(`it does not hold a key (${KEY_BYTES} bytes in base64)`));
  }
  // A copy restored from a backup with a wider mode is made the owner's alone again.
  if (((info.mode ?? 0) & 0o077) !== 0) await Deno.chmod(path, 0o600);
  return new Uint8Array(bytes);
}

function keyError(path: string, error: unknown): FabricError {
  return new FabricError("unavailable", `Cannot use the secrets key "${path}": ${(error as Error).message ?? error}`);
}
