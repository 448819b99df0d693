/** A private CA for one tracker, and the tracker's server certificate signed by it (ECDSA P-256). */
type X509 = typeof import("@peculiar/x509");

let loaded: Promise<X509> | null = null;

/** @peculiar/x509 takes ~150 ms to load: only the tracker and an agent's first contact need it. */
function x509Library(): Promise<X509> {
  loaded ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(crypto);
    return x509;
  })();
  return loaded;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** A new self-signed CA, valid for ten years. */
export async function createCa(commonName: string): Promise<PemPair> {
  const x509 = await x509Library();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(x509, keys.privateKey) };
}

/** How long a server certificate is issued for. */
export const SERVER_CERT_DAYS = 730;

/**
 * A server certificate for `names` (DNS names or IP addresses), signed by `ca`, valid for two years
 * (`days`) but never past the CA's own end, which would end it anyway.
 */
export async function createServerCert(
  ca: PemPair,
  names: string[],
  { days = SERVER_CERT_DAYS, now = Date.now() }: { days?: number; now?: number } = {},
): Promise<PemPair> {
  const x509 = await x509Library();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(x509, ca.keyPem);
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const sans = [...new Set(names)].map((value) => ({ type: isIp(value) ? "ip" : "dns", value } as const));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${names[0] ?? "fabric-tracker"}`,
    issuer: caCert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(Math.min(now + days * DAY_MS, caCert.notAfter.getTime())),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(x509, keys.privateKey) };
}

/** When a certificate stops being valid (milliseconds since the epoch). */
export async function certificateExpiry(certPem: string): Promise<number> {
  const x509 = await x509Library();
  return new x509.X509Certificate(certPem).notAfter.getTime();
}

/**
 * Whether the key is the certificate's: the two are separate files, and a tracker stopped between
 * writing one and the other (a renewal) must not leave a pair that cannot serve.
 */
export async function keyMatchesCertificate(pair: PemPair): Promise<boolean> {
  const x509 = await x509Library();
  try {
    const der = x509.PemConverter.decode(pair.keyPem)[0];
    const key = await crypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
    const { x, y } = await crypto.subtle.exportKey("jwk", key);
    const certKey = await new x509.X509Certificate(pair.certPem).publicKey.export(ALGORITHM, ["verify"], crypto);
    const jwk = await crypto.subtle.exportKey("jwk", certKey);
    return x === jwk.x && y === jwk.y;
  } catch {
    return false;
  }
}

/** The names and addresses a certificate is valid for. */
export async function certificateNames(certPem: string): Promise<string[]> {
  const x509 = await x509Library();
  const cert = new x509.X509Certificate(certPem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.map((name) => name.value) : [];
}

/**
 * `sha256:HEX` of a certificate's SubjectPublicKeyInfo, as kubeadm's discovery-token-ca-cert-hash:
 * it names the CA's key, so it survives re-issuing the CA certificate with the same key.
 */
export async function caHash(certPem: string): Promise<string> {
  const x509 = await x509Library();
  const cert = new x509.X509Certificate(certPem);
  const digest = await crypto.subtle.digest("SHA-256", cert.publicKey.rawData);
  return `sha256:${toHex(new Uint8Array(digest))}`;
}

/** True when `certPem` parses as a CA certificate. */
export async function isCaCertificate(certPem: string): Promise<boolean> {
  const x509 = await x509Library();
  try {
    const cert = new x509.X509Certificate(certPem);
    return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  } catch {
    return false;
  }
}

async function exportKey(x509: X509, key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importKey(x509: X509, pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return await crypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // a positive INTEGER
  return toHex(bytes);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function isIp(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || value.includes(":");
}
