/**
 * The store contract's retention cases (store_contract_test.ts runs them on every store): which jobs
 * go and which stay, steps within their bounds, a job's stored output counted, the store answering.
 * Also the helpers a store's own retention test uses (sqlite_retention_test.ts).
 */
import assert from "node:assert/strict";
import { emptyCounts } from "../protocol/mod.ts";
import { type JobRecord, type LogRow, queuedTask, type TaskRecord } from "./records.ts";
import type { PurgeOptions, PurgeResult } from "./retention.ts";
import { emptyBatch, type Store } from "./store.ts";

export const HOUR = 3_600_000;
export const NOW = 1_800_000_000_000;

export function job(id: string, ended: { at: number | null; keepMs?: number }, tasks = 1): JobRecord {
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
    submittedBy: null,
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
export async function writeJob(
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
export async function purgeAll(
  store: Store,
  options: PurgeOptions,
  limit = 10_000,
): Promise<PurgeResult & { steps: number }> {
  const total = { jobs: 0, tasks: 0, attempts: 0, logs: 0, audit: 0, blobRows: 0, more: false, steps: 0 };
  for (let step = 0; step < limit; step++) {
    const result = await store.purgeExpired(options);
    total.steps++;
    total.jobs += result.jobs;
    total.tasks += result.tasks;
    total.attempts += result.attempts;
    total.logs += result.logs;
    total.audit += result.audit;
    total.blobRows += result.blobRows;
    const rows = result.jobs + result.tasks + result.attempts + result.logs + result.audit + result.blobRows;
    // A round may finish the task it is on: its attempts (2 here) and the task row past the bound.
    assert.ok(rows <= options.maxRows + 3, `a step deleted ${rows} rows, more than ${options.maxRows} and a task`);
    if (!result.more) return total;
  }
  throw new Error(`still more to delete after ${limit} steps`);
}

export const ALL: PurgeOptions = { now: NOW, retentionMs: 24 * HOUR, maxRows: 100_000, maxMs: 60_000 };

/** A case on a new, empty store, closed after it. */
function onNewStore(body: (store: Store) => Promise<void>) {
  return async (subject: { open(): Promise<Store> }) => {
    const store = await subject.open();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  };
}

/** Cases on a new, empty store each. */
export const RETENTION_CASES: Record<string, (subject: { open(): Promise<Store> }) => Promise<void>> = {
  "retention: a job ended longer ago than the retention goes with its tasks, attempts and logs; the rest stay":
    onNewStore(async (store) => {
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
        audit: 0,
        blobRows: 0,
        more: false,
        steps: 1,
      });
      const done = await purgeAll(store, ALL);
      // A job's own retention shorter than the tracker's does not shorten it: "kept-shorter" goes with the tracker's.
      assert.deepEqual({ ...done, steps: 0 }, {
        jobs: 2,
        tasks: 4,
        attempts: 8,
        logs: 7,
        audit: 0,
        blobRows: 0,
        more: false,
        steps: 0,
      });
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
    }),
  "retention: audit entries older than --audit-retention go, in bounded steps, the rest stay; 0 keeps them": onNewStore(
    async (store) => {
      const entry = (at: number, actor: string) => ({
        at,
        actor,
        role: "admin",
        action: "job.cancel",
        target: "j",
        detail: null,
        address: "127.0.0.1",
        outcome: "ok",
      });
      const batch = emptyBatch();
      for (let i = 0; i < 1200; i++) batch.audit.push(entry(NOW - 40 * 24 * HOUR + i, "old"));
      batch.audit.push(entry(NOW - HOUR, "recent"));
      await store.write(batch);
      const keep = await purgeAll(store, { ...ALL, retentionMs: 0, auditRetentionMs: 0 });
      assert.equal(keep.audit, 0);
      const done = await purgeAll(store, { ...ALL, retentionMs: 0, auditRetentionMs: 30 * 24 * HOUR, maxRows: 500 });
      assert.equal(done.audit, 1200);
      assert.ok(done.steps >= 3, `${done.steps} steps for 1,200 entries at 500 a step`);
      assert.deepEqual((await store.listAudit({ limit: 10 })).map((e) => e.actor), ["recent"]);
    },
  ),
  "retention: a large job goes in steps within their bounds, out of every listing from the first": onNewStore(
    async (store) => {
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
    },
  ),
  "retention: a step stops at its time budget": onNewStore(async (store) => {
    await writeJob(store, job("big", { at: NOW - 25 * HOUR }, 3000), { tasks: 3000, logs: 2 });
    const result = await store.purgeExpired({ ...ALL, maxMs: 0 });
    // The first check is after the first round (or before it): little is done, and more is said to wait.
    assert.equal(result.more, true);
    assert.ok(result.tasks <= 64, `${result.tasks} tasks in a step with no time`);
  }),
  "retention: a job's stored output is counted in bytes": onNewStore(async (store) => {
    await writeJob(store, job("a", { at: null }), { tasks: 2, logs: 3, chunk: "héllo\n" });
    await writeJob(store, job("b", { at: null }), { tasks: 1, logs: 1 });
    assert.equal(await store.jobLogBytes("a"), 2 * 3 * 7);
    assert.equal(await store.jobLogBytes("none"), 0);
  }),
  "retention: the store answers a ping, and tells its size": onNewStore(async (store) => {
    await store.ping();
    await writeJob(store, job("a", { at: null }), { tasks: 10, logs: 10 });
    const space = await store.space();
    assert.ok(space.bytes > 0, `${space.bytes} bytes`);
    assert.ok(space.freeBytes === null || (space.freeBytes >= 0 && space.freeBytes < space.bytes));
  }),
};
