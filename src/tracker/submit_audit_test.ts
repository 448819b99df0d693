/** A submission's audit entry is written with the job's placement, in the commit its answer waits for (with the job itself, a small one). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore, type WriteBatch } from "../store/mod.ts";
import { FabricError } from "../protocol/mod.ts";
import { createRoutes } from "./routes.ts";
import { TEST_AGENT } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

/** POST /v1/jobs of a job of `count` tasks running `true`, as the admin. */
function submit(app: ReturnType<typeof createRoutes>, name: string, count = 1): Promise<Response> | Response {
  return app.request("/v1/jobs", {
    method: "POST",
    headers: { authorization: "Bearer admin-secret", "content-type": "application/json" },
    body: JSON.stringify({ spec: { name, tasks: [{ name: "t", run: "true", count }] } }),
  });
}

Deno.test("a submission's audit entry is durable with the job's placement, before the answer, in no write of its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-submit-audit-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  // The real store, the batches it committed kept in order.
  const committed: WriteBatch[] = [];
  const write = store.write.bind(store);
  store.write = async (batch: WriteBatch) => {
    await write(batch);
    committed.push(batch);
  };
  const tracker = await Tracker.open({ store });
  try {
    await tracker.setTokens({ admin: "admin-secret", join: "join-secret" });
    await tracker.registerAgent({ name: "a", slots: 1, ...TEST_AGENT });
    const app = createRoutes(tracker, { caPem: "PEM" });
    const before = committed.length;
    const answer = await submit(app, "one");
    assert.equal(answer.status, 201);
    const { jobId } = await answer.json();
    const atAnswer = committed.length;
    await tracker.flush();
    const writes = committed.slice(before);
    assert.equal(committed.length, atAnswer, "a write after the answer");
    // A small job is stored with its placement and the entry, in one write (job_intake.ts says why).
    assert.equal(writes.length, 1, `${writes.length} writes`);
    assert.deepEqual(writes[0].newJobs.map((job) => job.id), [jobId]);
    assert.deepEqual(writes[0].jobs, [], "the new job is inserted as it is after its placement, not updated");
    assert.equal(writes[0].attempts.length, 1);
    assert.deepEqual(writes[0].audit.map((entry) => [entry.action, entry.target, entry.outcome]), [
      ["job.submit", jobId, "ok"],
    ]);
    assert.equal((await store.getJob(jobId))?.state, "running");
    assert.equal((await store.listTasks(jobId))[0].state, "assigned");

    // A large one is stored alone first, then placed with the entry.
    const large = committed.length;
    const second = await submit(app, "many", 100);
    assert.equal(second.status, 201);
    const many = (await second.json()).jobId;
    await tracker.flush();
    const after = committed.slice(large);
    assert.equal(after.length, 2, `${after.length} writes`);
    assert.deepEqual(after[0].newJobs.map((job) => job.id), [many]);
    assert.deepEqual(after[0].audit, []);
    assert.deepEqual(after[1].audit.map((entry) => [entry.action, entry.target]), [["job.submit", many]]);
    const entries = await store.listAudit({ limit: 10, actionPrefix: "job.submit" });
    assert.deepEqual(entries.map((entry) => entry.target).sort(), [jobId, many].sort());
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a small job whose commit fails is answered 503, leaves nothing in memory or the store, and frees its agent's slot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-submit-refused-test-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  let failing = false;
  const write = store.write.bind(store);
  // As the store refuses a write (a locked file): a 503 for the caller.
  const locked = () => new FabricError("unavailable", "The store could not write: database is locked");
  store.write = (batch: WriteBatch) => failing ? Promise.reject(locked()) : write(batch);
  const tracker = await Tracker.open({ store });
  try {
    await tracker.setTokens({ admin: "admin-secret", join: "join-secret" });
    await tracker.registerAgent({ name: "a", slots: 1, ...TEST_AGENT });
    const app = createRoutes(tracker, { caPem: "PEM" });
    failing = true;
    const refused = await submit(app, "refused");
    assert.equal(refused.status, 503, await refused.text());
    failing = false;
    await tracker.flush();
    const listed = await app.request("/v1/jobs", { headers: { authorization: "Bearer admin-secret" } });
    assert.deepEqual((await listed.json()).jobs, [], "nothing of it in memory");
    assert.deepEqual((await store.listJobs({ limit: 10 })).map((job) => job.name), [], "nor in the store");

    // The agent's one slot is free again: the next job is placed on it.
    const accepted = await submit(app, "accepted");
    assert.equal(accepted.status, 201);
    const { jobId } = await accepted.json();
    await tracker.flush();
    assert.equal((await store.listTasks(jobId))[0].state, "assigned");
    assert.deepEqual((await store.listJobs({ limit: 10 })).map((job) => job.name), ["accepted"]);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
