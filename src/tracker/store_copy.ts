/**
 * `fabric store copy`: a tracker's SQLite data directory into an empty PostgreSQL database, for a
 * user who outgrows one tracker. Everything the tracker keeps goes: jobs, tasks, attempts, logs,
 * agents (with their credentials, so they keep working), the token hashes, the jobs' secrets (sealed:
 * their key, secrets.key, stays in the directory), the blobs (packs and artifacts) with tasks' lists of
 * artifacts, channels' keys (not their history), and the CA and tokens from the directory's files
 * into the store's secrets; a tracker started on the database with this directory then serves what
 * this one served, to the same agents and clients.
 */
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import { type ExportCounts, exportSqlite, noRows, PostgresStore, sqlitePath } from "../store/mod.ts";
import { SECRET_NAMES } from "./shared_secrets.ts";

export interface StoreCopyOptions {
  /** The tracker's data directory (fabric.db, ca.pem, ca.key, admin.token, join.token). */
  from: string;
  /** A postgres:// URL: an empty database, or one fabric has set up but not used. */
  to: string;
}

/**
 * Copy, in one transaction: a copy that fails leaves the database empty, to try again. Refused,
 * with nothing written, when the database holds anything (a tracker started on it, or an earlier
 * copy). Memory holds one batch of rows at a time.
 */
export async function copyTrackerStore(options: StoreCopyOptions): Promise<ExportCounts> {
  const path = sqlitePath(options.from);
  try {
    await Deno.stat(path);
  } catch {
    throw new FabricError("not_found", `No tracker store in "${options.from}" (no ${path})`);
  }
  const secrets = await directorySecrets(options.from);
  // "full": the copy is acknowledged once PostgreSQL has it on disk, since the user may then delete the source.
  const target = await PostgresStore.open(options.to, { applicationName: "fabric store copy", sync: "full" });
  try {
    const held = Object.entries(await target.contents()).filter(([, rows]) => rows > 0);
    if (held.length > 0) {
      throw new FabricError(
        "conflict",
        `The store ${target.where} is not empty (${held.map(([table, rows]) => `${table}: ${rows}`).join(", ")}): ` +
          "copy into an empty database",
      );
    }
    const counts = noRows();
    await target.copyIn(exportSqlite(path, counts), secrets);
    return counts;
  } finally {
    await target.close();
  }
}

/** The CA and tokens in the directory's files, as the store's secrets (what is missing is left out). */
async function directorySecrets(dataDir: string): Promise<Record<string, string>> {
  const files: Array<[string, string]> = [
    [SECRET_NAMES.caCert, "ca.pem"],
    [SECRET_NAMES.caKey, "ca.key"],
    [SECRET_NAMES.adminToken, "admin.token"],
    [SECRET_NAMES.joinToken, "join.token"],
  ];
  const secrets: Record<string, string> = {};
  for (const [name, file] of files) {
    try {
      const text = await Deno.readTextFile(join(dataDir, file));
      secrets[name] = file.endsWith(".token") ? text.trim() : text;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  if ((SECRET_NAMES.caCert in secrets) !== (SECRET_NAMES.caKey in secrets)) {
    throw new FabricError("conflict", `"${dataDir}" holds only half of its CA (ca.pem and ca.key go together)`);
  }
  return secrets;
}
