/**
 * A tracker's data directory. The first start creates the CA, the server certificate and the tokens;
 * later starts reuse them (the certificate is re-issued only when a new name must be covered).
 * Secrets are written 0600 in a 0700 directory.
 */
import { join } from "node:path";
import { caHash, certificateNames, createCa, createServerCert, type PemPair, writeSecret } from "../tls/mod.ts";
import { newToken } from "./auth.ts";

export interface TrackerFiles {
  dataDir: string;
  dbPath: string;
  ca: PemPair;
  caHash: string;
  server: PemPair;
  /** Present only when this start created them (the first start). */
  newTokens: { admin: string; join: string } | null;
}

export async function prepareTrackerDir(dataDir: string, names: string[], needTokens: boolean): Promise<TrackerFiles> {
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const caCertPath = join(dataDir, "ca.pem");
  const caKeyPath = join(dataDir, "ca.key");
  let ca = await readPair(caCertPath, caKeyPath);
  if (!ca) {
    ca = await createCa(`fabric CA ${Deno.hostname()}`);
    await writeSecret(caKeyPath, ca.keyPem);
    await Deno.writeTextFile(caCertPath, ca.certPem, { mode: 0o644 });
  }
  const serverCertPath = join(dataDir, "tracker.pem");
  const serverKeyPath = join(dataDir, "tracker.key");
  let server = await readPair(serverCertPath, serverKeyPath);
  const covered = server ? await certificateNames(server.certPem) : [];
  if (!server || !names.every((name) => covered.includes(name))) {
    server = await createServerCert(ca, [...new Set([...names, ...covered])]);
    await writeSecret(serverKeyPath, server.keyPem);
    await Deno.writeTextFile(serverCertPath, server.certPem, { mode: 0o644 });
  }
  let newTokens: TrackerFiles["newTokens"] = null;
  if (needTokens) {
    newTokens = { admin: newToken("fabric-admin"), join: newToken("fabric-join") };
    await writeSecret(join(dataDir, "admin.token"), newTokens.admin + "\n");
    await writeSecret(join(dataDir, "join.token"), newTokens.join + "\n");
  }
  return { dataDir, dbPath: join(dataDir, "fabric.db"), ca, caHash: await caHash(ca.certPem), server, newTokens };
}

async function readPair(certPath: string, keyPath: string): Promise<PemPair | null> {
  try {
    return { certPem: await Deno.readTextFile(certPath), keyPem: await Deno.readTextFile(keyPath) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
