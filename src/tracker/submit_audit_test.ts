/** A submission's audit entry is written with the job's placement, in the commit its answer waits for. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore, type WriteBatch } from "../store/mod.ts";
import { createRoutes } from "./routes.ts";
import { TEST_AGENT } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

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
    const answer = await app.request("/v1/jobs", {
      method: "POST",
      headers: { authorization: "Bearer admin-secret", "content-type": "application/json" },
      body: JSON.stringify({ spec: { name: "one", tasks: [{ name: "t", run: "true" }] } }),
    });
    assert.equal(answer.status, 201);
    const { jobId } = await answer.json();
    const atAnswer = committed.length;
    await tracker.flush();
    const writes = committed.slice(before);
    assert.equal(committed.length, atAnswer, "a write after the answer");
    // The job stored alone (job_intake.ts says why), then its placement with the entry.
    assert.equal(writes.length, 2, `${writes.length} writes`);
    assert.deepEqual(writes[0].newJobs.map((job) => job.id), [jobId]);
    assert.equal(writes[1].attempts.length, 1);
    assert.deepEqual(writes[1].audit.map((entry) => [entry.action, entry.target, entry.outcome]), [
      ["job.submit", jobId, "ok"],
    ]);
    const [entry] = await store.listAudit({ limit: 10, actionPrefix: "job.submit" });
    assert.equal(entry.target, jobId);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
