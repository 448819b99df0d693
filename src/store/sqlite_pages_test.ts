/** The dashboard's paged reads: a page of jobs by state and a part of the name, a page of a job's tasks by state. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { emptyCounts } from "../protocol/mod.ts";
import { type JobRecord, queuedTask } from "./records.ts";
import { SqliteStore } from "./sqlite.ts";
import { emptyBatch } from "./store.ts";

function job(id: string, name: string, state: JobRecord["state"], createdAt: number): JobRecord {
  return {
    id,
    name,
    spec: { name, tasks: [{ name: "t", run: "true" }] },
    files: {},
    source: null,
    signed: null,
    state,
    cancelRequested: false,
    total: 10,
    counts: emptyCounts(),
    createdAt,
    finishedAt: null,
    version: 1,
  };
}

Deno.test("a page of jobs: newest first, by state, by a part of the name in which % and _ are themselves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-store-test-" });
  const store = SqliteStore.open(join(dir, "f.db"));
  try {
    const batch = emptyBatch();
    batch.newJobs.push(
      job("a", "Build-linux", "succeeded", 1),
      job("b", "build_mac", "failed", 2),
      job("c", "test-100%", "running", 3),
      job("d", "buildXmac", "failed", 4),
    );
    const states = ["queued", "running", "succeeded", "failed", "cancelled", "skipped", "lost"] as const;
    for (let ord = 0; ord < 10; ord++) {
      const task = queuedTask({
        ...{ id: `a.${ord}`, jobId: "a", ord, template: "t", name: `t[${ord}]`, index: ord, count: 10 },
        ...{ matrix: null, pinnedAgent: null, createdAt: 1 },
      });
      batch.tasks.push({ ...task, state: states[ord % 3] });
    }
    await store.write(batch);
    const ids = async (query: Parameters<SqliteStore["listJobsPage"]>[0]) =>
      (await store.listJobsPage(query)).map((j) => j.id);
    assert.deepEqual(await ids({ offset: 0, limit: 10 }), ["d", "c", "b", "a"]);
    assert.deepEqual(await ids({ offset: 1, limit: 2 }), ["c", "b"]);
    assert.deepEqual(await ids({ state: "failed", offset: 0, limit: 10 }), ["d", "b"]);
    assert.deepEqual(await ids({ nameContains: "build", offset: 0, limit: 10 }), ["d", "b", "a"], "ASCII case ignored");
    assert.deepEqual(await ids({ nameContains: "d_m", offset: 0, limit: 10 }), ["b"], "'_' is not a wildcard");
    assert.deepEqual(await ids({ nameContains: "0%", offset: 0, limit: 10 }), ["c"]);
    assert.deepEqual(await ids({ nameContains: "%", state: "failed", offset: 0, limit: 10 }), []);

    const names = async (query: Parameters<SqliteStore["listTasksPage"]>[1]) =>
      (await store.listTasksPage("a", query)).map((t) => t.name);
    assert.deepEqual(await names({ offset: 8, limit: 5 }), ["t[8]", "t[9]"]);
    assert.deepEqual(await names({ state: "running", offset: 1, limit: 2 }), ["t[4]", "t[7]"]);
    assert.deepEqual(await store.listTasksPage("nope", { offset: 0, limit: 5 }), []);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
