/**
 * Retention in the store, for every store (SQLite here; a store added later joins SUBJECTS): which
 * jobs go and which stay, steps that stay within their bounds, and a file that stays bounded when jobs
 * come and go for a long time.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { emptyCounts } from "../protocol/mod.ts";
import { type JobRecord, type LogRow, queuedTask, type TaskRecord } from "./records.ts";
import type { PurgeOptions, PurgeResult } from "./retention.ts";
import { SqliteStore } from "./sqlite.ts";
import { emptyBatch, type Store } from "./store.ts";

interface Subject {
  name: string;
  /** A new, empty store, and what closes and removes it. */
  open(): Promise<{ store: Store; dispose(): Promise<void> }>;
}

const SUBJECTS: Subject[] = [{
  name: "sqlite",
  async open() {
    const dir = await Deno.makeTempDir({ prefix: "fabric-retention-test-" });
    const store = SqliteStore.open(join(dir, "fabric.db"));
    return {
      store,
      async dispose() {
        await store.close().catch(() => {});
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
}];

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;

function job(id: string, ended: { at: number | null; keepMs?: number }, tasks = 1): JobRecord {
  return {
    id,
    name: id,
    spec: {
      name: id,
      ...(ended.keepMs === undefined ? {} : { retention: ended.keepMs }),
      tasks: [{ name: "t", run: "true" }],
    },
    files: {},
    source: null,
    signed: null,
    state: ended.at === null ? "running" : "succeeded",
    cancelRequested: false,
    total: tasks,
    counts: emptyCounts(),
    createdAt: NOW - 100 * HOUR,
    finishedAt: ended.at,
    version: 1,
  };
}

function taskOf(jobId: string, ord: number): TaskRecord {
  const task = queuedTask({
    id: `${jobId}.${ord}`,
    jobId,
    ord,
    template: "t",
    name: `t[${ord}]`,
    index: ord,
    count: 1,
    matrix: null,
    pinnedAgent: null,
    createdAt: 1,
  });
  return { ...task, state: "succeeded", attempt: 2, failures: 1 };
}

/** A job with `tasks` tasks, two attempts each, and `logs` chunks of `chunk` characters per task. */
async function writeJob(
  store: Store,
  record: JobRecord,
  options: { tasks?: number; logs?: number; chunk?: string } = {},
): Promise<void> {
  const batch = emptyBatch();
  batch.newJobs.push(record);
  for (let ord = 0; ord < (options.tasks ?? 1); ord++) {
    const task = taskOf(record.id, ord);
    batch.tasks.push(task);
    for (const attempt of [1, 2]) {
      batch.attempts.push({
        taskId: task.id,
        attempt,
        agentId: "a",
        state: attempt === 1 ? "failed" : "succeeded",
        assignedAt: 1,
        startedAt: 1,
        finishedAt: 2,
        exitCode: attempt === 1 ? 1 : 0,
        signal: null,
        reason: null,
      });
    }
    for (let seq = 0; seq < (options.logs ?? 1); seq++) {
      const row: LogRow = { taskId: task.id, attempt: 2, seq, stream: "stdout", data: options.chunk ?? "ok\n", at: 2 };
      batch.logs.push(row);
    }
  }
  await store.write(batch);
}

/** Steps until nothing is left (at most `limit`), each checked against its bounds; the sum of what they did. */
async function purgeAll(store: Store, options: PurgeOptions, limit = 10_000): Promise<PurgeResult & { steps: number }> {
  const total = { jobs: 0, tasks: 0, attempts: 0, logs: 0, more: false, steps: 0 };
  for (let step = 0; step < limit; step++) {
    const result = await store.purgeExpired(options);
    total.steps++;
    total.jobs += result.jobs;
    total.tasks += result.tasks;
    total.attempts += result.attempts;
    total.logs += result.logs;
    const rows = result.jobs + result.tasks + result.attempts + result.logs;
    // A round may finish the task it is on: its attempts (2 here) and the task row past the bound.
    assert.ok(rows <= options.maxRows + 3, `a step deleted ${rows} rows, more than ${options.maxRows} and a task`);
    if (!result.more) return total;
  }
  throw new Error(`still more to delete after ${limit} steps`);
}

const ALL: PurgeOptions = { now: NOW, retentionMs: 24 * HOUR, maxRows: 100_000, maxMs: 60_000 };

for (const subject of SUBJECTS) {
  const test = (name: string, fn: (store: Store) => Promise<void>) =>
    Deno.test(`${name} (${subject.name})`, async () => {
      const { store, dispose } = await subject.open();
      try {
        await fn(store);
      } finally {
        await dispose();
      }
    });

  test("a job ended longer ago than the retention goes with its tasks, attempts and logs; the rest stay", async (store) => {
    await writeJob(store, job("old", { at: NOW - 25 * HOUR }), { tasks: 3, logs: 2 });
    await writeJob(store, job("recent", { at: NOW - 23 * HOUR }));
    await writeJob(store, job("running", { at: null }));
    await writeJob(store, job("kept", { at: NOW - 25 * HOUR, keepMs: 30 * 24 * HOUR }));
    await writeJob(store, job("kept-shorter", { at: NOW - 25 * HOUR, keepMs: HOUR }));

    assert.deepEqual(await purgeAll(store, { ...ALL, retentionMs: 0 }), {
      jobs: 0,
      tasks: 0,
      attempts: 0,
      logs: 0,
      more: false,
      steps: 1,
    });
    const done = await purgeAll(store, ALL);
    // A job's own retention shorter than the tracker's does not shorten it: "kept-shorter" goes with the tracker's.
    assert.deepEqual({ ...done, steps: 0 }, { jobs: 2, tasks: 4, attempts: 8, logs: 7, more: false, steps: 0 });
    assert.equal(await store.getJob("old"), null);
    assert.equal(await store.getTask("old.0"), null);
    assert.deepEqual(await store.listTasks("old"), []);
    assert.deepEqual(await store.listAttempts("old.1"), []);
    assert.deepEqual(await store.readLogs("old.2", 2, -1, 10), []);
    assert.deepEqual(
      (await store.listJobs({ limit: 10 })).map((j) => j.id).sort(),
      ["kept", "recent", "running"],
    );
    assert.equal((await store.readLogs("kept.0", 2, -1, 10)).length, 1);

    // A month later, the job that asked for 30 days goes too.
    await purgeAll(store, { ...ALL, now: NOW + 30 * 24 * HOUR });
    assert.deepEqual((await store.listJobs({ limit: 10 })).map((j) => j.id), ["running"]);
  });

  test("a large job goes in steps within their bounds, out of every listing from the first", async (store) => {
    await writeJob(store, job("big", { at: NOW - 25 * HOUR }, 2000), { tasks: 2000, logs: 3 });
    await writeJob(store, job("chatty", { at: NOW - 25 * HOUR }), { tasks: 1, logs: 1500 });
    const first = await store.purgeExpired({ ...ALL, maxRows: 500 });
    assert.equal(first.jobs, 2);
    assert.equal(first.more, true);
    assert.equal(await store.getJob("big"), null);
    assert.deepEqual(await store.listJobs({ limit: 10 }), []);
    const rest = await purgeAll(store, { ...ALL, maxRows: 500 });
    assert.equal(first.tasks + rest.tasks, 2001);
    assert.equal(first.logs + rest.logs, 2000 * 3 + 1500);
    assert.equal(first.attempts + rest.attempts, 2001 * 2);
    assert.ok(rest.steps >= 20, `${rest.steps} steps for ~12,000 rows at 500 a step`);
    assert.deepEqual(await store.readLogs("chatty.0", 2, -1, 10), []);
  });

  test("a step stops at its time budget", async (store) => {
    await writeJob(store, job("big", { at: NOW - 25 * HOUR }, 3000), { tasks: 3000, logs: 2 });
    const result = await store.purgeExpired({ ...ALL, maxMs: 0 });
    // The first check is after the first round (or before it): little is done, and more is said to wait.
    assert.equal(result.more, true);
    assert.ok(result.tasks <= 64, `${result.tasks} tasks in a step with no time`);
  });

  test("a job's stored output is counted in bytes", async (store) => {
    await writeJob(store, job("a", { at: null }), { tasks: 2, logs: 3, chunk: "héllo\n" });
    await writeJob(store, job("b", { at: null }), { tasks: 1, logs: 1 });
    assert.equal(await store.jobLogBytes("a"), 2 * 3 * 7);
    assert.equal(await store.jobLogBytes("none"), 0);
  });

  test("the store stays bounded while jobs come and go", async (store) => {
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
    assert.ok(space.freeBytes > first * 0.8, `${space.freeBytes} free of ${space.bytes}`);
  });

  test("the store answers a ping", async (store) => {
    await store.ping();
  });
}
