/**
 * A lost admin token replaced by someone with the tracker's data directory, running or not. The new
 * token goes through the store, as every change does: the admin tokens named "admin" are revoked, a
 * new one is stored, and a mark that no tracker writes is changed in the same transaction. A running
 * tracker reads that mark every second (server.ts) and then its tokens again, so the old token is
 * refused from then on. Through the store, rather than a local channel to the tracker, because the
 * store is what a tracker trusts already: it works the same whether a tracker runs or not (no race
 * between asking whether one runs and acting), adds no listener, and asks for nothing more than what
 * already gives full control (write access to the tracker's database).
 */
import { join } from "node:path";
import { FabricError, retry, systemClock } from "../protocol/mod.ts";
import { emptyBatch, PostgresStore, sqlitePath, SqliteStore, type Store } from "../store/mod.ts";
import { writeSecret } from "../tls/mod.ts";
import { hashToken, newToken } from "./auth.ts";
import { TOKENS_RESET_KEY } from "./credentials.ts";
import { SECRET_NAMES } from "./shared_secrets.ts";
import { FIRST_ADMIN } from "./tokens.ts";

/** Revoke the tokens named "admin" and store a new admin token by that name; returns it. */
export async function replaceAdminToken(store: Store, now: number): Promise<string> {
  const token = newToken("fabric-admin");
  const batch = emptyBatch();
  for (const record of await store.loadTokens()) {
    if (record.name === FIRST_ADMIN && record.revokedAt === null) batch.tokens.push({ ...record, revokedAt: now });
  }
  batch.tokens.push({
    hash: hashToken(token),
    name: FIRST_ADMIN,
    role: "admin",
    createdAt: now,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
  });
  batch.meta.set(TOKENS_RESET_KEY, crypto.randomUUID());
  await store.write(batch);
  return token;
}

/**
 * `replaceAdminToken` on the tracker's store: SQLite in `dataDir`, or the PostgreSQL database `store`
 * names (whose secrets then hold the new token too, for every tracker's data directory); then the new
 * token into `dataDir/admin.token` (0600). A write that finds the database busy (a running tracker's
 * commit) is tried again for a few seconds.
 */
export async function resetAdminToken(dataDir: string, options: { store?: string } = {}): Promise<string> {
  const store = options.store === undefined
    ? await openSqlite(dataDir)
    : await PostgresStore.open(options.store, { applicationName: "fabric tracker reset-admin-token" });
  let token: string;
  try {
    token = await retry(() => replaceAdminToken(store, Date.now()), {
      policy: { initialMs: 50, maxMs: 500 },
      clock: systemClock,
      giveUpAfterMs: 10_000,
      retryable: (error) => error instanceof FabricError && error.code === "unavailable",
    });
    await store.secrets?.setSecrets({ [SECRET_NAMES.adminToken]: token });
  } finally {
    await store.close();
  }
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeSecret(join(dataDir, "admin.token"), token + "\n");
  return token;
}

async function openSqlite(dataDir: string): Promise<Store> {
  const path = sqlitePath(dataDir);
  try {
    await Deno.stat(path);
  } catch {
    throw new FabricError(
      "not_found",
      `No tracker's data in "${dataDir}" (no fabric.db there); give --data-dir DIR, or --store URL for PostgreSQL`,
    );
  }
  return SqliteStore.open(path);
}
