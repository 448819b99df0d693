/**
 * SQLite's file stays bounded while jobs come and go: what retention deletes goes to the freelist, and
 * new rows reuse it (PostgreSQL's vacuum does the same there, on its own schedule).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ALL, HOUR, job, NOW, purgeAll, writeJob } from "./_retention_testing.ts";
import { SqliteStore } from "./sqlite.ts";

Deno.test("the SQLite file stays bounded while jobs with output come and go for days", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-retention-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  let open = true;
  try {
    const chunk = "x".repeat(8000) + "\n";
    const sizes: number[] = [];
    for (let cycle = 0; cycle < 8; cycle++) {
      // A day's jobs: written, ended, and deleted a day and a bit later.
      const day = NOW + cycle * 24 * HOUR;
      for (let j = 0; j < 4; j++) {
        await writeJob(store, job(`c${cycle}-${j}`, { at: day }, 50), { tasks: 50, logs: 5, chunk });
      }
      await purgeAll(store, { ...ALL, now: day + 25 * HOUR, maxRows: 1000 });
      sizes.push((await store.space()).bytes);
    }
    assert.deepEqual(await store.listJobs({ limit: 10 }), []);
    // ~8 MB of output a cycle: the first cycle's space is reused by every later one.
    const [first, ...later] = sizes;
    assert.ok(first > 8_000_000, `the first cycle took ${first} bytes`);
    for (const size of later) assert.ok(size <= first * 1.1, `sizes ${sizes.join(", ")}: one grew past the first`);
    const space = await store.space();
    assert.ok(space.freeBytes! > first * 0.8, `${space.freeBytes} free of ${space.bytes}`);
    await store.close();
    open = false;
    assert.ok((await Deno.stat(join(dir, "fabric.db"))).size <= first * 1.1, "the file, checkpointed, as large");
  } finally {
    if (open) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writes sent while a retention step runs wait for its end, and both are committed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-retention-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  try {
    await writeJob(store, job("old", { at: NOW - 25 * HOUR }, 3000), { tasks: 3000, logs: 2 });
    const step = store.purgeExpired({ ...ALL, maxRows: 100_000, maxMs: 60_000 });
    // Sent to the worker behind the step (it is busy): each must wait for the step's transaction to end.
    const writes = Array.from({ length: 5 }, (_, i) => writeJob(store, job(`new${i}`, { at: null })));
    const [deleted] = await Promise.all([step, ...writes]);
    assert.equal(deleted.tasks, 3000);
    assert.deepEqual(
      (await store.listJobs({ limit: 10 })).map((j) => j.id).sort(),
      [0, 1, 2, 3, 4].map((i) => `new${i}`),
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
