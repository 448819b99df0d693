/**
 * How the PostgreSQL store sends a batch's statements (postgres_rows.ts): one alone, prepared, or many
 * in one transaction pipelined on one connection, BEGIN to COMMIT; and the fence a leader's
 * transaction checks first (fabric_fence, postgres_migrations.ts).
 */
import type postgres from "postgres";
import type { Fence } from "./lease.ts";
import type { Statement } from "./postgres_statement.ts";

/** Statements sent ahead of their answers in a large batch (a small one is sent whole). */
const PIPELINE_WINDOW = 4;

/** PostgreSQL's error code for a fenced write refused (postgres_migrations.ts, fabric_fence). */
const FENCE_REFUSED = "FB001";

/** The error is fabric_fence's: the lease is no longer the fence's, and the transaction wrote nothing. */
export function fenceRefused(error: unknown): boolean {
  return (error as { code?: string })?.code === FENCE_REFUSED;
}

/** `fabric_fence(holder, epoch)`: fails the transaction it is in unless the lease is the fence's (arrays, as every statement's parameters). */
export function fenceCall(fence: Fence): Statement {
  return {
    text: "SELECT fabric_fence(f.holder, f.epoch) FROM unnest($1::text[], $2::bigint[]) AS f(holder, epoch)",
    params: [[fence.holder], [fence.epoch]],
    oids: [1009, 1016],
  };
}

/**
 * One statement: its own transaction. Prepared (named, kept on its connection) unless its text is a
 * one-off: postgres.js sends an unprepared statement with parameters as Parse and Describe, waits
 * for the answer, then Bind and Execute, so that every write cost two round trips and PostgreSQL
 * parsed and planned its text each time; prepared, it is one round trip after its first use on the
 * connection. Measured on this machine (a one-task job's insert, then its placement, fenced, p50 of
 * 200, load 3-5): 1.6-2.2 ms each unprepared, 1.0-1.5 prepared.
 */
export async function runStatement(sql: postgres.Sql, statement: Statement): Promise<void> {
  await sql.unsafe(
    statement.text,
    statement.params.map((values, i) => sql.typed(values as never, statement.oids[i])),
    { prepare: !statement.oneOff },
  );
}

/**
 * One transaction on one connection, pipelined: BEGIN, the statements and COMMIT are sent without
 * waiting for answers (up to PIPELINE_WINDOW statements ahead), so a small batch is one round
 * trip. PostgreSQL runs them in order; after a failed one, the rest fail and COMMIT rolls back,
 * so the first error is the batch's and nothing of it stays.
 */
export async function runTransaction(
  sql: postgres.Sql,
  statements: Iterable<Statement> | AsyncIterable<Statement>,
  fence?: Fence,
): Promise<void> {
  const connection = await sql.reserve();
  let failure: unknown = null;
  const inFlight: Promise<void>[] = [];
  const send = (text: string, params: Statement["params"] = [], oids: number[] = [], oneOff?: true) => {
    const values = params.map((values, i) => connection.typed(values as never, oids[i]));
    const query = connection.unsafe(text, values, { prepare: !oneOff });
    inFlight.push(query.then(() => {}, (error) => void (failure ??= error)));
    return query;
  };
  try {
    send("BEGIN");
    // First: the lease's row is held from here to COMMIT, and nothing is written if it is not the fence's.
    if (fence) {
      const check = fenceCall(fence);
      send(check.text, check.params, check.oids);
    }
    try {
      for await (const statement of statements) {
        if (failure !== null) break;
        send(statement.text, statement.params, statement.oids, statement.oneOff);
        while (inFlight.length > PIPELINE_WINDOW && inFlight.length > 1) await inFlight.shift();
      }
    } catch (error) {
      failure ??= error; // the statements' source failed: the transaction must still end here
    }
    // Sent behind what is in flight: the connection goes back to the pool outside any transaction.
    const end = failure === null ? send("COMMIT") : send("ROLLBACK");
    await Promise.all(inFlight);
    if (failure !== null) throw failure;
    const ended = await end;
    if (ended.command !== "COMMIT") throw new Error("the transaction was rolled back");
  } finally {
    connection.release();
  }
}
