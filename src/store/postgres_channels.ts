/**
 * Channels in PostgreSQL (channels.ts): a write is a transaction that first checks the lease's fence
 * (as every batch of the tracker's, postgres_migrations.ts 4), then takes CHANNEL_LOCK, so that channel
 * writes take their revisions and commit one after the other; reads are plain statements.
 */
import type postgres from "postgres";
import { postgresSql } from "./blobs.ts";
import {
  applyChannelWrite,
  CHANNEL_LOCK,
  type ChannelSql,
  type ChannelWrite,
  type ChannelWriteResult,
} from "./channels.ts";
import type { Fence } from "./lease.ts";

/** Statements through `sql`, with PostgreSQL's `$1` parameters. */
export function postgresChannelSql(sql: postgres.Sql | postgres.TransactionSql): ChannelSql {
  return {
    all: async (text, params) => [...await sql.unsafe(postgresSql(text), params as postgres.ParameterOrJSON<never>[])],
    run: async (text, params) =>
      (await sql.unsafe(postgresSql(text), params as postgres.ParameterOrJSON<never>[])).count,
  };
}

export async function writePostgresChannel(
  sql: postgres.Sql,
  write: ChannelWrite,
  fence: Fence | undefined,
): Promise<ChannelWriteResult> {
  return await sql.begin(async (tx) => {
    if (fence) await tx.unsafe("SELECT fabric_fence($1::text, $2::bigint)", [fence.holder, fence.epoch]);
    await tx.unsafe("SELECT pg_advisory_xact_lock($1, $2)", [CHANNEL_LOCK[0], CHANNEL_LOCK[1]]);
    return await applyChannelWrite(postgresChannelSql(tx), write);
  }) as ChannelWriteResult;
}
