/**
 * The CA and tokens of a tracker on a shared store (PostgreSQL). Every tracker of one database must
 * present certificates from the same CA and accept the same tokens, so the store holds them (in its
 * `secrets`, which a reader of job data is not granted), and the first tracker to start puts its own
 * there: the CA of its data directory if it has one (a tracker moved from SQLite keeps the CA its
 * agents pinned), else a new one. Each data directory gets `ca.pem`, `admin.token` and `join.token`,
 * so that a client on a tracker's machine needs nothing; the CA's key stays in the store only.
 */
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import type { SecretStore } from "../store/mod.ts";
import { createCa, type PemPair, writeSecret } from "../tls/mod.ts";
import { newJoinToken, newToken } from "./auth.ts";

const CA_CERT = "ca_cert";
const CA_KEY = "ca_key";
const ADMIN_TOKEN = "admin_token";
const JOIN_TOKEN = "join_token";

/** Names of the secrets a store holds, for `fabric store copy`. */
export const SECRET_NAMES = { caCert: CA_CERT, caKey: CA_KEY, adminToken: ADMIN_TOKEN, joinToken: JOIN_TOKEN };

/**
 * The store's CA, put there from `dataDir` (or new) if it has none; `ca.pem` written to `dataDir`.
 * `changed` when `dataDir` did not hold it: a server certificate found there is not from it.
 */
export async function sharedCa(dataDir: string, secrets: SecretStore): Promise<{ ca: PemPair; changed: boolean }> {
  const certPath = join(dataDir, "ca.pem");
  const local = await readOptional(certPath);
  let cert = await secrets.getSecret(CA_CERT);
  let key = await secrets.getSecret(CA_KEY);
  if (cert === null || key === null) {
    const localKey = local === null ? null : await readOptional(join(dataDir, "ca.key"));
    const offered = local !== null && localKey !== null
      ? { certPem: local, keyPem: localKey }
      : await createCa(`fabric CA ${Deno.hostname()}`);
    const stored = await secrets.initSecrets({ [CA_CERT]: offered.certPem, [CA_KEY]: offered.keyPem });
    cert = stored[CA_CERT];
    key = stored[CA_KEY];
  }
  if (local !== null && local.trim() !== cert.trim()) {
    throw new FabricError(
      "conflict",
      `The data directory "${dataDir}" holds a CA (ca.pem) other than the store's: agents and clients that ` +
        `trust one would refuse the other. Use another --data-dir for this tracker, or remove ca.pem, ` +
        `ca.key, tracker.pem and tracker.key from it if its CA is no longer used.`,
    );
  }
  if (local === null) await Deno.writeTextFile(certPath, cert, { mode: 0o644 });
  return { ca: { certPem: cert, keyPem: key }, changed: local === null };
}

/**
 * The tokens: new ones (stored, unless another tracker stored its own first) when the store has no
 * token hashes (`needTokens`), else the store's; either way written to `dataDir` when it lacks them.
 * `created` when this start made them.
 */
export async function sharedTokens(
  dataDir: string,
  secrets: SecretStore,
  needTokens: boolean,
  /** The trackers' CA, named by a new join token. */
  caHash?: string,
): Promise<{ tokens: { admin: string; join: string } | null; created: boolean }> {
  let admin = await secrets.getSecret(ADMIN_TOKEN);
  let joinToken = await secrets.getSecret(JOIN_TOKEN);
  let created = false;
  if (needTokens && (admin === null || joinToken === null)) {
    const offered = { admin: newToken("fabric-admin"), join: newJoinToken(caHash) };
    const stored = await secrets.initSecrets({ [ADMIN_TOKEN]: offered.admin, [JOIN_TOKEN]: offered.join });
    admin = stored[ADMIN_TOKEN];
    joinToken = stored[JOIN_TOKEN];
    created = admin === offered.admin;
  }
  // A store copied from a tracker whose directory had lost its token files holds only their hashes.
  if (admin === null || joinToken === null) return { tokens: null, created: false };
  for (const [file, token] of [["admin.token", admin], ["join.token", joinToken]]) {
    const path = join(dataDir, file);
    if ((await readOptional(path))?.trim() !== token) await writeSecret(path, token + "\n");
  }
  return { tokens: { admin, join: joinToken }, created };
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
