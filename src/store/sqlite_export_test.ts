/** A SQLite store read out for a copy: every row, in batches no larger than the bounds. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { emptyCounts } from "../protocol/mod.ts";
import { queuedTask } from "./records.ts";
import { SqliteStore } from "./sqlite.ts";
import { exportSqlite, noRows } from "./sqlite_export.ts";
import { emptyBatch } from "./store.ts";

Deno.test("an export reads every row once, in batches within the bounds of rows and log bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-export-test-" });
  try {
    const store = SqliteStore.open(join(dir, "fabric.db"));
    const batch = emptyBatch();
    batch.meta.set("k", "v");
    batch.newJobs.push({
      id: "j",
      name: "j",
      spec: { name: "j", tasks: [] } as never,
      files: {},
      source: null,
      signed: null,
      submittedBy: null,
      state: "running",
      cancelRequested: false,
      total: 2500,
      counts: emptyCounts(),
      createdAt: 1,
      finishedAt: null,
      version: 1,
    });
    for (let ord = 0; ord < 2500; ord++) {
      batch.tasks.push(queuedTask({
        id: `j.${String(ord).padStart(4, "0")}`,
        jobId: "j",
        ord,
        template: "t",
        name: "t",
        index: ord,
        count: 2500,
        matrix: null,
        pinnedAgent: null,
        createdAt: 1,
      }));
    }
    const chunk = "x".repeat(100_000);
    for (let seq = 0; seq < 30; seq++) {
      batch.logs.push({ taskId: "j.0000", attempt: 1, seq, stream: "stdout", data: chunk, at: 1 });
    }
    const token = {
      hash: "ab".repeat(32),
      name: "ci",
      role: "submit" as const,
      createdAt: 1,
      expiresAt: null,
      revokedAt: 2,
      lastUsedAt: 3,
    };
    batch.tokens.push(token);
    await store.write(batch);
    // A blob of three 3 MiB chunks, whole, with an artifact of it; and an upload never finished.
    const whole = "ab".repeat(32);
    for (let seq = 0; seq < 3; seq++) await store.putBlobChunk(whole, seq, new Uint8Array(3 << 20).fill(seq), 5);
    assert.equal(await store.completeBlob(whole, { size: 9 << 20, chunks: 3, now: 6 }), true);
    await store.putBlobChunk("cd".repeat(32), 0, new Uint8Array([1]), 5);
    const artifact = { path: "dist/x", sha256: whole, size: 9 << 20 };
    await store.recordArtifacts({ jobId: "j", taskId: "j.0000", attempt: 1, artifacts: [artifact], now: 7 });
    await store.close();

    const counts = noRows();
    const seen = { tasks: 0, logs: 0, jobs: 0, meta: 0, tokens: [] as unknown[] };
    const copied: Record<string, unknown[][]> = {};
    for await (const part of exportSqlite(join(dir, "fabric.db"), counts, { rows: 1000, logBytes: 1_000_000 })) {
      if ("copy" in part) {
        // A part holds one 4 MiB chunk's bytes at most (two of 3 MiB go over: each is a part of its own).
        if (part.copy === "blob_chunks") assert.equal(part.rows.length, 1);
        (copied[part.copy] ??= []).push(
          ...part.rows.map((row) => row.map((v) => v instanceof Uint8Array ? v.length : v)),
        );
        continue;
      }
      const rows = part.meta.size + part.agents.length + part.newJobs.length + part.tasks.length +
        part.attempts.length + part.logs.length + part.tokens.length;
      assert.ok(rows > 0 && rows <= 1000, `${rows} rows in a batch`);
      assert.ok(part.logs.reduce((sum, log) => sum + log.data.length, 0) <= 1_000_000);
      seen.tasks += part.tasks.length;
      seen.logs += part.logs.length;
      seen.jobs += part.newJobs.length;
      seen.meta += part.meta.size;
      seen.tokens.push(...part.tokens);
      if (part.tasks.length > 0) assert.deepEqual(part.tasks[0], batch.tasks[seen.tasks - part.tasks.length]);
    }
    assert.deepEqual(seen, { tasks: 2500, logs: 30, jobs: 1, meta: 1, tokens: [token] });
    assert.deepEqual(copied, {
      blobs: [[whole, 9 << 20, 1, 7]],
      blob_chunks: [[whole, 0, 3 << 20], [whole, 1, 3 << 20], [whole, 2, 3 << 20]],
      job_blobs: [["j", whole, 7]],
      task_artifacts: [["j.0000", 1, "dist/x", whole, 9 << 20]],
    });
    assert.deepEqual(counts, {
      meta: 1,
      agents: 0,
      jobs: 1,
      tasks: 2500,
      attempts: 0,
      logs: 30,
      tokens: 1,
      jobSecrets: 0,
      audit: 0,
      periodic: 0,
      blobs: 1,
      blobBytes: 9 << 20,
      artifacts: 1,
      channelKeys: 0,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an export of a missing store is refused with a message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-export-test-" });
  try {
    await assert.rejects(exportSqlite(join(dir, "absent.db"), noRows()).next(), /Cannot read the store ".*absent\.db"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an export leaves out what retention is deleting: a job gone from the jobs table takes its rows along", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-export-test-" });
  try {
    const store = SqliteStore.open(join(dir, "fabric.db"));
    const batch = emptyBatch();
    for (const [id, finishedAt] of [["old", 1], ["new", null]] as const) {
      batch.newJobs.push({
        id,
        name: id,
        spec: { name: id, tasks: [] } as never,
        files: {},
        source: null,
        signed: null,
        submittedBy: null,
        state: finishedAt === null ? "running" : "succeeded",
        cancelRequested: false,
        total: 100,
        counts: emptyCounts(),
        createdAt: 1,
        finishedAt,
        version: 1,
      });
      for (let ord = 0; ord < 100; ord++) {
        const task = queuedTask({
          id: `${id}.${ord}`,
          jobId: id,
          ord,
          template: "t",
          name: "t",
          index: ord,
          count: 100,
          matrix: null,
          pinnedAgent: null,
          createdAt: 1,
        });
        batch.tasks.push(task);
        batch.attempts.push(attemptOf(task.id));
        batch.logs.push({ taskId: task.id, attempt: 1, seq: 0, stream: "stdout", data: "x", at: 1 });
      }
    }
    await store.write(batch);
    // One short step: "old" leaves the jobs table, most of its rows are still there.
    const step = await store.purgeExpired({ now: 10, retentionMs: 5, maxRows: 20, maxMs: 1000 });
    assert.equal(step.jobs, 1);
    assert.equal(step.more, true);
    await store.close();

    const counts = noRows();
    for await (const _ of exportSqlite(join(dir, "fabric.db"), counts)) { /* counted */ }
    assert.deepEqual(counts, {
      meta: 0,
      agents: 0,
      jobs: 1,
      tasks: 100,
      attempts: 100,
      logs: 100,
      tokens: 0,
      jobSecrets: 0,
      audit: 0,
      periodic: 0,
      blobs: 0,
      blobBytes: 0,
      artifacts: 0,
      channelKeys: 0,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function attemptOf(taskId: string) {
  return {
    taskId,
    attempt: 1,
    agentId: "a",
    state: "succeeded" as const,
    assignedAt: 1,
    startedAt: 1,
    finishedAt: 2,
    exitCode: 0,
    signal: null,
    reason: null,
  };
}
