/**
 * A tracker's data directory. The first start creates the CA, the server certificate and the tokens;
 * later starts reuse them (the certificate is re-issued when a new name must be covered, or when it
 * nears its end: certificate_renewal.ts).
 * Secrets are written 0600 in a 0700 directory. On a shared store, the CA and the tokens are the
 * store's (shared_secrets.ts), and the directory holds copies of what clients read.
 */
import { join } from "node:path";
import type { SecretStore } from "../store/mod.ts";
import {
  caHash,
  certificateNames,
  createCa,
  createServerCert,
  keyMatchesCertificate,
  type PemPair,
  writeSecret,
} from "../tls/mod.ts";
import { newId, newJoinToken, newToken } from "./auth.ts";
import { renewalDue } from "./certificate_renewal.ts";
import { sharedCa, sharedTokens } from "./shared_secrets.ts";

export interface TrackerFiles {
  dataDir: string;
  dbPath: string;
  ca: PemPair;
  caHash: string;
  server: PemPair;
  /** Present only when this start created them (the first start). */
  newTokens: { admin: string; join: string } | null;
  /** The tokens the store's secrets hold (a shared store), which the tracker must accept. */
  sharedTokens: { admin: string; join: string } | null;
}

export async function prepareTrackerDir(
  dataDir: string,
  names: string[],
  needTokens: boolean,
  secrets?: SecretStore,
): Promise<TrackerFiles> {
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const caCertPath = join(dataDir, "ca.pem");
  const caKeyPath = join(dataDir, "ca.key");
  let ca: PemPair | null;
  let caChanged = false;
  if (secrets) {
    ({ ca, changed: caChanged } = await sharedCa(dataDir, secrets));
  } else {
    ca = await readPair(caCertPath, caKeyPath);
  }
  if (!ca) {
    ca = await createCa(`fabric CA ${Deno.hostname()}`);
    await writeSecret(caKeyPath, ca.keyPem);
    await Deno.writeTextFile(caCertPath, ca.certPem, { mode: 0o644 });
  }
  let server = caChanged ? null : await readPair(join(dataDir, "tracker.pem"), join(dataDir, "tracker.key"));
  const covered = server ? await certificateNames(server.certPem) : [];
  if (
    !server || !names.every((name) => covered.includes(name)) || await renewalDue(server.certPem, Date.now()) ||
    !(await keyMatchesCertificate(server))
  ) {
    server = await issueServerCert(dataDir, ca, [...new Set([...names, ...covered])]);
  }
  let newTokens: TrackerFiles["newTokens"] = null;
  let shared: TrackerFiles["sharedTokens"] = null;
  if (secrets) {
    const { tokens, created } = await sharedTokens(dataDir, secrets, needTokens, await caHash(ca.certPem));
    shared = tokens;
    if (created) newTokens = tokens;
  } else if (needTokens) {
    newTokens = { admin: newToken("fabric-admin"), join: newJoinToken(await caHash(ca.certPem)) };
    await writeSecret(join(dataDir, "admin.token"), newTokens.admin + "\n");
    await writeSecret(join(dataDir, "join.token"), newTokens.join + "\n");
  }
  return {
    dataDir,
    dbPath: join(dataDir, "fabric.db"),
    ca,
    caHash: await caHash(ca.certPem),
    server,
    newTokens,
    sharedTokens: shared,
  };
}

/** A new server certificate for `names`, signed by `ca`, stored in the data directory. */
export async function issueServerCert(dataDir: string, ca: PemPair, names: string[]): Promise<PemPair> {
  const server = await createServerCert(ca, names);
  await writeSecret(join(dataDir, "tracker.key"), server.keyPem);
  await Deno.writeTextFile(join(dataDir, "tracker.pem"), server.certPem, { mode: 0o644 });
  return server;
}

/**
 * This tracker's name among the trackers of a shared store (the lease's holder): made at the first
 * start of its data directory and kept there. One tracker runs per data directory (its lock), so a
 * tracker restarted after a crash takes back the lease its last run held at once, under a new epoch
 * (nothing of the last run can write after that), rather than waiting for it to expire.
 */
export async function trackerId(dataDir: string): Promise<string> {
  const path = join(dataDir, "tracker.id");
  try {
    const id = (await Deno.readTextFile(path)).trim();
    if (/^[a-z0-9]{4,64}$/.test(id)) return id;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const id = newId();
  await Deno.writeTextFile(path, id + "\n", { mode: 0o644 });
  return id;
}

async function readPair(certPath: string, keyPath: string): Promise<PemPair | null> {
  try {
    return { certPem: await Deno.readTextFile(certPath), keyPem: await Deno.readTextFile(keyPath) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
