/**
 * One end-to-end test, run once per store: SQLite in the tracker's data directory, and PostgreSQL
 * (a server of its own, started and stopped around the test). The test file declares each one
 * itself, so that a failure or a skip is reported at its own line, not at a line of this helper:
 *
 *     for (const store of STORES) {
 *       Deno.test({
 *         name: `... (${store.kind})`,
 *         ignore: lacks("bwrap", ...store.needs),
 *       }, () => withStore(store, async ({ url }) => { ... }));
 *     }
 */
import type { Need } from "./machine.ts";
import { PostgresServer } from "./postgres.ts";

export interface StoreKind {
  kind: "sqlite" | "postgres";
  /** What the machine must have for it, for `lacks`. */
  needs: Need[];
}

export const STORES: readonly StoreKind[] = [
  { kind: "sqlite", needs: [] },
  { kind: "postgres", needs: ["postgres"] },
];

export interface StoreUnderTest {
  kind: StoreKind["kind"];
  /** The tracker's FABRIC_STORE: a database of its own; none for SQLite. */
  url?: string;
  /** The PostgreSQL server, to stop and start it (PostgreSQL only). */
  server?: PostgresServer;
}

/** `fn` with a store of that kind: for PostgreSQL, on a server started for it and stopped after. */
export async function withStore(store: StoreKind, fn: (store: StoreUnderTest) => Promise<void>): Promise<void> {
  if (store.kind === "sqlite") return await fn({ kind: "sqlite" });
  const server = await PostgresServer.start();
  try {
    await fn({ kind: "postgres", url: await server.createDatabase(), server });
  } finally {
    await server.stop();
  }
}
