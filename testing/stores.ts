/**
 * One end-to-end test, run once per store: SQLite in the tracker's data directory, and PostgreSQL
 * (a server of its own, started and stopped around the test; skipped with the reason where
 * PostgreSQL is not installed).
 */
import { lacksPostgres, PostgresServer } from "./postgres.ts";

export interface StoreUnderTest {
  kind: "sqlite" | "postgres";
  /** The tracker's FABRIC_STORE: a database of its own; none for SQLite. */
  url?: string;
  /** The PostgreSQL server, to stop and start it (PostgreSQL only). */
  server?: PostgresServer;
}

/** What a test declares: its name, and `ignore: lacks(...)` for what it needs of the machine. */
export interface StoreTestDefinition {
  name: string;
  ignore?: boolean;
}

/** `Deno.test(name (sqlite))` and `Deno.test(name (postgres))`, each given its store. */
export function testEachStore(
  definition: string | StoreTestDefinition,
  fn: (store: StoreUnderTest) => Promise<void>,
): void {
  const { name, ignore = false } = typeof definition === "string" ? { name: definition } : definition;
  Deno.test({ name: `${name} (sqlite)`, ignore, fn: () => fn({ kind: "sqlite" }) });
  Deno.test({
    name: `${name} (postgres)`,
    ignore: ignore || lacksPostgres(),
    fn: async () => {
      const server = await PostgresServer.start();
      try {
        await fn({ kind: "postgres", url: await server.createDatabase(), server });
      } finally {
        await server.stop();
      }
    },
  });
}
