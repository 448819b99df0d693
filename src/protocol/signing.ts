/**
 * Signed jobs, as Buildkite's signed pipelines: the submitter signs the job with an Ed25519 key, and an
 * agent that trusts the key runs a task only once it has re-derived it from what was signed (see
 * agent/job_verifier.ts). The signature covers the job file as data, the script files shipped with
 * it and the hash of each task's pack of `files:` (content-addressed: the hash names the bytes), serialized as RFC 8785 canonical JSON: the same data gives the same bytes on every machine, so
 * the tracker and the agent can rebuild the payload from the job and not trust anyone's copy of it.
 */
import canonicalize from "canonicalize";
import { z } from "zod";
import { type BlobRef, blobRefSchema } from "./blob.ts";

/** Names what the bytes are, inside what is signed: a signature over anything else never verifies here. */
export const SIGNED_JOB_FORMAT = "fabric-signed-job-v1";

const BASE64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const BASE64_64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

/** An Ed25519 public key as it travels: the 32 raw bytes in base64. */
export const publicKeySchema = z.string().regex(BASE64_32, "must be an Ed25519 public key (32 bytes in base64)");

/** A job's signature: who signed (the public key) and the signature of its payload. */
export const jobSignatureSchema = z.strictObject({
  algorithm: z.literal("ed25519"),
  publicKey: publicKeySchema,
  signature: z.string().regex(BASE64_64, "must be an Ed25519 signature (64 bytes in base64)"),
});
export type JobSignature = z.infer<typeof jobSignatureSchema>;

/** A signed job as an agent gets it with each task: the exact payload that was signed, and its signature. */
export interface SignedJob extends JobSignature {
  payload: string;
}

const payloadSchema = z.object({
  format: z.literal(SIGNED_JOB_FORMAT),
  spec: z.unknown(),
  files: z.record(z.string(), z.string()),
  packs: z.record(z.string(), blobRefSchema).optional(),
});

/** What was signed, read back. */
export interface SignedContent {
  spec: unknown;
  files: Record<string, string>;
  /** Each task's pack of `files:` by task name (none: the job ships no files). */
  packs: Record<string, BlobRef>;
}

/**
 * The bytes a job's signature covers: the job file as plain JSON data (as it is sent to the tracker), the
 * script files shipped with it, and its packs of `files:` by task name (left out when there are none, so
 * that a job without files signs as it always did). Throws a TypeError for what JSON cannot carry (NaN, a
 * lone surrogate).
 */
export function signedPayload(
  spec: unknown,
  files: Record<string, string>,
  packs: Record<string, BlobRef> = {},
): string {
  try {
    const content = Object.keys(packs).length > 0 ? { spec, files, packs } : { spec, files };
    const payload = canonicalize({ format: SIGNED_JOB_FORMAT, ...content });
    if (payload === undefined) throw new Error("nothing to sign");
    return payload;
  } catch (error) {
    throw new TypeError(`The job cannot be signed: ${(error as Error).message}`);
  }
}

/** The content of a payload, or a reason it is not one: to be called only once its signature verified. */
export function readPayload(payload: string): SignedContent | string {
  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    return "the signed payload is not JSON";
  }
  const parsed = payloadSchema.safeParse(data);
  if (!parsed.success) return `the signed payload is not a ${SIGNED_JOB_FORMAT}`;
  return { spec: parsed.data.spec, files: parsed.data.files, packs: parsed.data.packs ?? {} };
}

/** Sign a payload with a private key (from signing_keys.ts) whose public half is `publicKey`. */
export async function signPayload(
  key: { privateKey: CryptoKey; publicKey: string },
  payload: string,
): Promise<JobSignature> {
  const signature = await crypto.subtle.sign("Ed25519", key.privateKey, new TextEncoder().encode(payload));
  return { algorithm: "ed25519", publicKey: key.publicKey, signature: toBase64(new Uint8Array(signature)) };
}

/** Whether `signature` is its public key's signature of exactly `payload`. */
export async function verifyPayload(signature: JobSignature, payload: string): Promise<boolean> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("raw", fromBase64(signature.publicKey), "Ed25519", false, ["verify"]);
  } catch {
    return false;
  }
  return await crypto.subtle.verify(
    "Ed25519",
    key,
    fromBase64(signature.signature),
    new TextEncoder().encode(payload),
  );
}

/** A short, stable name of a public key for messages: `ed25519:` and its first 16 base64 characters. */
export function keyName(publicKey: string): string {
  return `ed25519:${publicKey.slice(0, 16)}`;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
