/**
 * What only the PostgreSQL store does, on a real server: the schema's set-up under its lock, the
 * lease and the writes it fences, the secrets and who may read them, the copy into an empty store,
 * messages without the password.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { lacks } from "../../testing/machine.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { queuedJobRecord } from "../../testing/records.ts";
import type { FabricError } from "../protocol/mod.ts";
import { PostgresStore } from "./postgres.ts";
import { POSTGRES_MIGRATIONS } from "./postgres_migrations.ts";
import { openPool } from "./postgres_pool.ts";
import { LeaseLostError } from "./lease.ts";
import { batchStatements, CHUNK_ROWS } from "./postgres_rows.ts";
import { singleStatement } from "./postgres_single_statement.ts";
import { type JobRecord, queuedTask, type TaskRecord, type WriteBatch } from "./records.ts";
import { emptyBatch } from "./store.ts";

function jobRecord(id: string): JobRecord {
  return queuedJobRecord(id, "j");
}

function jobBatch(id: string): WriteBatch {
  const batch = emptyBatch();
  batch.newJobs.push(jobRecord(id));
  return batch;
}

function taskFields(jobId: string, ord: number) {
  const id = `${jobId}.${ord}`;
  return {
    id,
    jobId,
    ord,
    template: "t",
    name: id,
    index: ord,
    count: 1,
    matrix: null,
    pinnedAgent: null,
    createdAt: 1,
  };
}

/** Two trackers' stores on a new database, as `body` needs them, closed after it. */
async function withTwoTrackers(
  server: PostgresServer,
  body: (a: PostgresStore, b: PostgresStore, url: string) => Promise<void>,
): Promise<void> {
  const url = await server.createDatabase();
  const a = await PostgresStore.open(url, { fenced: true });
  const b = await PostgresStore.open(url, { fenced: true });
  try {
    await body(a, b, url);
  } finally {
    await a.close();
    await b.close();
  }
}

function databaseOf(url: string): string {
  return new URL(url).pathname.slice(1);
}

type Step = (server: PostgresServer) => Promise<void>;

const STEPS: Record<string, Step> = {
  "trackers starting at once on an empty database all open it, and it is set up once": async (server) => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
    const versions = await server.admin(databaseOf(url), (sql) => sql`SELECT version FROM fabric_schema`);
    assert.deepEqual(versions.map((row) => row.version), [POSTGRES_MIGRATIONS.length]);
    const batch = emptyBatch();
    batch.newJobs.push(jobRecord("j1"));
    await stores[0].write(batch);
    assert.equal((await stores[3].getJob("j1"))?.id, "j1");
    await Promise.all(stores.map((store) => store.close()));
    const again = await PostgresStore.open(url);
    assert.equal((await again.getJob("j1"))?.id, "j1", "a later start keeps the data");
    await again.close();
  },

  "the lease: one holder at a time, taken over once expired under a new epoch; the old holder's writes are refused": (
    server,
  ) =>
    withTwoTrackers(server, async (a, b) => {
      const first = await a.acquireLease("A", 400);
      assert.equal(first?.holder, "A");
      assert.equal(first?.epoch, 1);
      assert.ok(first!.remainingMs! > 0 && first!.remainingMs! <= 400, `${first?.remainingMs}`);
      const fenceA = { holder: "A", epoch: 1 };
      assert.deepEqual({ ...(await b.acquireLease("B", 400)), remainingMs: 0 }, { ...fenceA, remainingMs: 0 });
      await a.write(jobBatch("j1"), fenceA);
      await assert.rejects(a.write(jobBatch("j0")), LeaseLostError, "a tracker's store writes nothing unfenced");
      // Expired: nobody holds it, and a write fenced by it is refused all the same.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await assert.rejects(a.write(jobBatch("j2"), fenceA), /This tracker no longer leads: the lease of epoch 1/);
      const second = await b.acquireLease("B", 10_000);
      assert.deepEqual({ holder: second?.holder, epoch: second?.epoch }, { holder: "B", epoch: 2 });
      const fenceB = { holder: "B", epoch: 2 };
      assert.equal(await a.renewLease(fenceA, 10_000), null);
      assert.equal((await a.acquireLease("A", 10_000))?.holder, "B");
      // Every form of write is fenced: one statement, a transaction of several, one that sets jobs aside.
      const large = jobBatch("j3");
      for (let i = 0; i < CHUNK_ROWS + 1; i++) large.tasks.push(queuedTask({ ...taskFields("j3", i) }));
      const setAside = jobBatch("j4");
      setAside.setAside.push({ jobId: "j1", reason: "r", at: 1 });
      for (const batch of [jobBatch("j2"), large, setAside]) {
        await assert.rejects(a.write(batch, fenceA), LeaseLostError);
      }
      assert.deepEqual((await b.listJobs({ limit: 10 })).map((job) => job.id), ["j1"], "nothing of them landed");
      await b.write(large, fenceB);
      assert.equal((await b.listTasks("j3")).length, CHUNK_ROWS + 1);
      assert.equal((await b.renewLease(fenceB, 10_000))?.epoch, 2);
      // Let go (a tracker stopping): another takes it at once.
      await b.releaseLease(fenceB);
      assert.deepEqual({ ...(await a.acquireLease("A", 10_000)), remainingMs: 0 }, {
        holder: "A",
        epoch: 3,
        remainingMs: 0,
      });
      await assert.rejects(b.write(jobBatch("j5"), fenceB), LeaseLostError);
    }),

  "retention deletes only under the lease: a leader cut off deletes nothing behind its successor": (server) =>
    withTwoTrackers(server, async (a, b) => {
      const fenceA = { holder: "A", epoch: 1 };
      assert.equal((await a.acquireLease("A", 300))?.epoch, 1);
      const ended = jobBatch("old");
      ended.newJobs[0] = { ...ended.newJobs[0], state: "succeeded", finishedAt: 1 };
      await a.write(ended, fenceA);
      const purge = { now: Date.now(), retentionMs: 1000, maxRows: 1000, maxMs: 50 };
      await assert.rejects(a.purgeExpired(purge), LeaseLostError, "nothing is deleted unfenced");
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await b.acquireLease("B", 10_000))?.epoch, 2);
      await assert.rejects(a.purgeExpired({ ...purge, fence: fenceA }), /This tracker no longer leads/);
      assert.deepEqual((await b.listJobs({ limit: 10 })).map((job) => job.id), ["old"], "A deleted nothing");
      assert.equal((await b.purgeExpired({ ...purge, fence: { holder: "B", epoch: 2 } })).jobs, 1);
      assert.deepEqual(await b.listJobs({ limit: 10 }), []);
    }),

  "a fenced write holds the lease's row until it commits: a successor's takeover waits for it, then sees it": (
    server,
  ) =>
    withTwoTrackers(server, async (a, b, url) => {
      // A lease of 2 s: long enough that B's first look and A's fence come well before its end on a
      // loaded machine (300 ms did not), short enough to wait out.
      const leaseEnds = Date.now() + 2000;
      await a.acquireLease("A", 2000);
      assert.equal((await b.acquireLease("B", 10_000))?.holder, "A", "B's own connection is open before the race");
      // A's write in progress, as a pipelined transaction is: the fence first, its rows after.
      const order = await server.admin(databaseOf(url), async (sql) => {
        const events: string[] = [];
        const reserved = await sql.reserve();
        await reserved`BEGIN`;
        await reserved`SELECT fabric_fence('A', 1)`;
        await reserved`INSERT INTO meta (key, value) VALUES ('written', 'by A')`;
        // The lease expires meanwhile.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, leaseEnds - Date.now()) + 100));
        const takeover = b.acquireLease("B", 10_000).then((state) => events.push(`taken by ${state?.holder}`));
        await new Promise((resolve) => setTimeout(resolve, 300));
        events.push("committed");
        await reserved`COMMIT`;
        reserved.release();
        await takeover;
        return events;
      });
      assert.deepEqual(order, ["committed", "taken by B"]);
      assert.equal(await b.getMeta("written"), "by A");
    }),

  "a fenced write in progress keeps neither its holder from renewing nor a follower's look waiting": (server) =>
    withTwoTrackers(server, async (a, b, url) => {
      const fenceA = (await a.acquireLease("A", 3000))!;
      assert.equal((await b.acquireLease("B", 3000))?.holder, "A", "B's own connection is open before the write");
      await server.admin(databaseOf(url), async (sql) => {
        // A long write of A's in progress (a job of a million tasks holds its transaction for tens of seconds).
        const reserved = await sql.reserve();
        try {
          await reserved`BEGIN`;
          await reserved`SELECT fabric_fence(${fenceA.holder}, ${fenceA.epoch})`;
          await reserved`INSERT INTO meta (key, value) VALUES ('written', 'by A')`;
          // Before 11, the renewal waited for the write's row lock until its lock timeout, and failed.
          const renewed = await a.renewLease(fenceA, 3000);
          assert.equal(renewed?.epoch, fenceA.epoch, "A renews while its write is in flight");
          assert.ok((renewed?.remainingMs ?? 0) > 2000, `${renewed?.remainingMs}`);
          const seen = await b.acquireLease("B", 3000);
          assert.deepEqual([seen?.holder, seen?.epoch], ["A", fenceA.epoch], "B only looks, and sees A's lease");
          assert.equal((await a.renewLease(fenceA, 3000))?.epoch, fenceA.epoch, "and A renews again after B's look");
          await reserved`COMMIT`;
        } finally {
          reserved.release();
        }
      });
      assert.equal(await b.getMeta("written"), "by A");
    }),

  "a database set up by a newer fabric is refused, with the versions": async (server) => {
    const url = await server.createDatabase();
    await (await PostgresStore.open(url)).close();
    await server.admin(databaseOf(url), (sql) => sql`UPDATE fabric_schema SET version = 99`);
    await assert.rejects(
      PostgresStore.open(url),
      new RegExp(`has schema version 99, newer than this fabric \\(${POSTGRES_MIGRATIONS.length}\\); upgrade fabric`),
    );
  },

  "the admin token of a database from before named tokens becomes the admin token named admin": async (server) => {
    const url = await server.createDatabase();
    const sql = postgres(url, { onnotice: () => {}, max: 1 });
    try {
      await sql.unsafe(POSTGRES_MIGRATIONS[0]);
      await sql`CREATE TABLE fabric_schema (version integer NOT NULL)`;
      await sql`INSERT INTO fabric_schema (version) VALUES (1)`;
      await sql`INSERT INTO meta (key, value) VALUES ('admin_token_sha256', 'adminhash'), ('join_token_sha256', 'j')`;
    } finally {
      await sql.end({ timeout: 5 });
    }
    const before = Date.now();
    const store = await PostgresStore.open(url);
    const [admin, ...others] = await store.loadTokens();
    assert.deepEqual(others, []);
    assert.deepEqual({ ...admin, createdAt: 0 }, {
      hash: "adminhash",
      name: "admin",
      role: "admin",
      createdAt: 0,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
    assert.ok(admin.createdAt >= before - 60_000 && admin.createdAt <= Date.now() + 60_000, "created when upgraded");
    assert.equal(await store.getMeta("admin_token_sha256"), null, "one place holds it");
    assert.equal(await store.getMeta("join_token_sha256"), "j");
    await store.close();
  },

  "a refused connection says why, and never shows the password": async (server) => {
    const url = (await server.createDatabase()).replace(server.password, "not-the-password");
    await assert.rejects(PostgresStore.open(url), (error: FabricError) => {
      assert.equal(error.code, "unavailable");
      assert.match(error.message, /^Cannot open the store postgres:\/\/fabric:\*\*\*@127\.0\.0\.1:\d+\/test_\d+: /);
      assert.match(error.message, /password authentication failed/);
      assert.doesNotMatch(error.message, /not-the-password/);
      return true;
    });
  },

  "secrets: the first values stored win, and a role granted the job tables cannot read them": async (server) => {
    const url = await server.createDatabase();
    const store = await PostgresStore.open(url);
    assert.deepEqual(await store.initSecrets({ a: "first", b: "first" }), { a: "first", b: "first" });
    assert.deepEqual(await store.initSecrets({ a: "second", c: "second" }), { a: "first", c: "second" });
    assert.equal(await store.getSecret("a"), "first");
    assert.equal(await store.getSecret("absent"), null);
    await store.setSecrets({ a: "rotated", d: "new" });
    assert.deepEqual(await store.initSecrets({ a: "third", d: "third" }), { a: "rotated", d: "new" });
    await store.close();
    // docs/postgres.md's reader: SELECT on the job data, not on secrets.
    await server.admin(databaseOf(url), async (sql) => {
      await sql.unsafe(`CREATE ROLE fabric_reader_${databaseOf(url)} LOGIN PASSWORD 'reader'`);
      await sql.unsafe(
        `GRANT SELECT ON fabric_schema, meta, agents, jobs, tasks, attempts, logs, leases TO fabric_reader_${
          databaseOf(url)
        }`,
      );
    });
    const reader = new URL(url);
    reader.username = `fabric_reader_${databaseOf(url)}`;
    reader.password = "reader";
    const readerStore = await PostgresStore.open(reader.toString());
    assert.deepEqual(await readerStore.listJobs({ limit: 1 }), []);
    await assert.rejects(readerStore.getSecret("a"), /permission denied for table secrets/);
    await readerStore.close();
  },

  "a copy that fails part way leaves the store empty; a copy into a store holding anything is refused": async (
    server,
  ) => {
    const store = await PostgresStore.open(await server.createDatabase());
    const source = async function* (fail: boolean): AsyncGenerator<WriteBatch> {
      for (let i = 0; i < 3; i++) {
        const batch = emptyBatch();
        batch.newJobs.push(jobRecord(`j${i}`));
        yield batch;
      }
      if (fail) throw new Error("the source broke");
    };
    await assert.rejects(store.copyIn(source(true), { ca_cert: "c" }), /the source broke/);
    assert.deepEqual(Object.values(await store.contents()), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await store.copyIn(source(false), { ca_cert: "c" });
    assert.equal((await store.listJobs({ limit: 10 })).length, 3);
    assert.equal(await store.getSecret("ca_cert"), "c");
    await assert.rejects(store.copyIn(source(false), {}), /the store is not empty/);
    assert.equal((await store.listJobs({ limit: 10 })).length, 3);
    await store.close();
  },
  "a large chunk sends a column that is the same in every row as one value, and reads back as written": async (
    server,
  ) => {
    const url = await server.createDatabase();
    const store = await PostgresStore.open(url);
    try {
      await store.write(jobBatch("j1"));
      // Alike in every row: the job, a finished state, an exit code, a flag, a fraction, a reason with a
      // NUL (stored as U+FFFD), and the empty columns; one id twice (the later row wins).
      const tasks: TaskRecord[] = [];
      for (let i = 0; i < 600; i++) {
        tasks.push({
          ...queuedTask(taskFields("j1", i)),
          state: "failed",
          exitCode: 3,
          outputTruncated: true,
          durationMs: 1.5,
          reason: "a\0b",
          name: i % 2 ? "odd" : `even ${i}`,
        });
      }
      tasks.push({ ...tasks[7], name: "again", exitCode: 4 });
      const batch = emptyBatch();
      batch.tasks = tasks;
      const [statement] = [...batchStatements(batch)];
      const scalars = statement.params.filter((param) => !Array.isArray(param)).length;
      assert.ok(scalars >= 10 && scalars < 24, `${scalars} of 24 columns sent as one value`);
      // Its text is one of many (each mix of constant columns): not kept prepared on the connection, nor
      // any statement it is part of; a small batch's text is one of a few, and is.
      assert.equal(statement.oneOff, true);
      assert.equal(singleStatement(batch)?.oneOff, true);
      const small = jobBatch("j0");
      small.tasks = tasks.slice(0, 2);
      assert.equal(singleStatement(small)?.oneOff, undefined);
      assert.equal(singleStatement(small)?.text, singleStatement({ ...small, tasks: tasks.slice(5, 9) })?.text);
      await store.write(batch);
      const stored = await store.listTasks("j1");
      const expected = tasks.slice(0, 600).map((task) => ({ ...task, reason: "a\uFFFDb" }));
      expected[7] = { ...expected[7], name: "again", exitCode: 4 };
      assert.deepEqual(stored, expected);
    } finally {
      await store.close();
    }
  },

  "arrays are sent right on a connection that has not learnt the server's array types": async (server) => {
    const url = await server.createDatabase();
    // fetch_types off: what a pool sends before its connection's fetch of the array types has answered.
    const settings = { onnotice: () => {}, max: 1, fetch_types: false } as const;
    const bare = postgres(url, settings);
    try {
      await assert.rejects(
        bare.unsafe("SELECT * FROM unnest($1::text[]) AS x", [bare.typed(["zkvg9rush2"] as never, 1009)]),
        /malformed array literal: "zkvg9rush2"/,
      );
    } finally {
      await bare.end({ timeout: 5 });
    }
    const sql = openPool(url, settings);
    try {
      const texts = ["plain", 'a "quoted" \\ one', "", "{braces},commas"];
      const [row] = await sql.unsafe(
        "SELECT $1::text[] = ARRAY[$2, $3, $4, $5]::text[] AS same, $6::bigint[] AS ints, $7::boolean[] AS flags, " +
          "$8::float8[] AS floats, $9::bytea[] = ARRAY['\\x00ff'::bytea] AS bytes, cardinality($10::text[]) AS nulls",
        [
          sql.typed(texts as never, 1009),
          ...texts,
          sql.typed([1, 9007199254740993n] as never, 1016),
          sql.typed([true, false] as never, 1000),
          sql.typed([1.5, -2] as never, 1022),
          sql.typed([new Uint8Array([0, 255])] as never, 1001),
          sql.typed([null, "x"] as never, 1009),
        ],
      );
      assert.equal(row.same, true);
      assert.equal(row.bytes, true);
      assert.equal(row.nulls, 2);
      // Read back as text: this pool has no array parsers (nothing of ours reads an array).
      assert.equal(String(row.ints), "{1,9007199254740993}");
      assert.equal(String(row.flags), "{t,f}");
      assert.equal(String(row.floats), "{1.5,-2}");
      const [tagged] = await sql`SELECT cardinality(${["a", "b"]}::text[]) AS n`;
      assert.equal(tagged.n, 2);
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
};

Deno.test({
  name: "PostgreSQL store",
  ignore: lacks("postgres"),
  fn: async (t) => {
    const server = await PostgresServer.start();
    try {
      for (const [name, step] of Object.entries(STEPS)) await t.step(name, () => step(server));
    } finally {
      await server.stop();
    }
  },
});
