/**
 * Ed25519 keys for signed jobs, in the PEM files OpenSSL reads and writes: the private key as PKCS#8
 * ("PRIVATE KEY"), the public key as SubjectPublicKeyInfo ("PUBLIC KEY"). So a key may also come from
 * `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
 */
import { fromBase64, toBase64 } from "./signing.ts";

/** The private key, and its public half (raw, base64) as signatures name it. */
export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: string;
}

/** A new key pair as PEM text, and the public key as signatures name it. */
export async function generateSigningKey(): Promise<{ privatePem: string; publicPem: string; publicKey: string }> {
  const pair = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privatePem: toPem("PRIVATE KEY", pkcs8), publicPem: toPem("PUBLIC KEY", spki), publicKey: toBase64(raw) };
}

/** The signing key in a PEM file's text; a TypeError saying what is wrong otherwise (never the key's bytes). */
export async function parsePrivateKey(pem: string): Promise<SigningKey> {
  const blocks = pemBlocks(pem).filter((b) => b.label === "PRIVATE KEY");
  if (blocks.length !== 1) {
    throw new TypeError(
      blocks.length === 0
        ? 'holds no private key (a PEM "PRIVATE KEY" block, as fabric key generate writes)'
        : "holds more than one private key",
    );
  }
  let privateKey: CryptoKey;
  try {
    // Extractable once, only to read the public half from its JWK.
    const extractable = await crypto.subtle.importKey("pkcs8", blocks[0].der, "Ed25519", true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", extractable);
    privateKey = await crypto.subtle.importKey("jwk", { ...jwk, key_ops: ["sign"] }, "Ed25519", false, ["sign"]);
    if (typeof jwk.x !== "string") throw new Error("no public half");
    return { privateKey, publicKey: toBase64(fromBase64Url(jwk.x)) };
  } catch {
    throw new TypeError("does not hold an Ed25519 private key");
  }
}

/** The public keys in a PEM file's text (one or more "PUBLIC KEY" blocks), as signatures name them. */
export async function parsePublicKeys(pem: string): Promise<string[]> {
  const blocks = pemBlocks(pem).filter((b) => b.label === "PUBLIC KEY");
  if (blocks.length === 0) {
    throw new TypeError('holds no public key (a PEM "PUBLIC KEY" block, as fabric key generate writes)');
  }
  const keys: string[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      const key = await crypto.subtle.importKey("spki", block.der, "Ed25519", true, ["verify"]);
      keys.push(toBase64(new Uint8Array(await crypto.subtle.exportKey("raw", key))));
    } catch {
      throw new TypeError(`its public key number ${i + 1} is not an Ed25519 key`);
    }
  }
  return keys;
}

function toPem(label: string, der: Uint8Array): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The PEM blocks of a text whose base64 decodes; others are left out (a key file is small: no limit needed). */
function pemBlocks(text: string): Array<{ label: string; der: Uint8Array<ArrayBuffer> }> {
  const blocks: Array<{ label: string; der: Uint8Array<ArrayBuffer> }> = [];
  for (const match of text.matchAll(/-----BEGIN ([A-Z ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g)) {
    try {
      blocks.push({ label: match[1], der: fromBase64(match[2].replace(/\s+/g, "")) });
    } catch { /* not base64: not a block */ }
  }
  return blocks;
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return fromBase64(base64 + "=".repeat((4 - base64.length % 4) % 4));
}
