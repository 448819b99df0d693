import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../../store/mod.ts";
import { healthAnswer, notReadyBecause, READY_TIMEOUT_MS, within } from "./health.ts";
import { Probes } from "./probes.ts";
import { TrackerMetrics } from "./tracker_metrics.ts";

Deno.test("ready when the store answers and its writes succeed; otherwise not, the body naming only the kind", async () => {
  const answers = () => Promise.resolve();
  assert.equal(await notReadyBecause({ ping: answers, writeProblem: () => null }), null);
  assert.deepEqual(
    await notReadyBecause({ ping: answers, writeProblem: () => "database or disk is full" }),
    { said: "the store's writes fail", detail: "the store's writes fail: database or disk is full" },
  );
  assert.deepEqual(
    await notReadyBecause({
      ping: () => Promise.reject(new Error("connect ECONNREFUSED 10.1.2.3:5432")),
      writeProblem: () => null,
    }),
    { said: "the store does not answer", detail: "the store does not answer: connect ECONNREFUSED 10.1.2.3:5432" },
  );
  assert.deepEqual(healthAnswer(null), { status: 200, body: "ok\n" });
  assert.deepEqual(healthAnswer("why"), { status: 503, body: "not ready: why\n" });
});

Deno.test("a store that does not answer within a second is not ready, without waiting for its answer", async () => {
  let release = () => {};
  const hung = new Promise<void>((resolve) => (release = resolve));
  const started = performance.now();
  const why = await notReadyBecause({ ping: () => within(hung, READY_TIMEOUT_MS), writeProblem: () => null });
  const took = performance.now() - started;
  release();
  assert.equal(why?.detail, `the store does not answer: no answer within ${READY_TIMEOUT_MS} ms`);
  assert.ok(took >= READY_TIMEOUT_MS - 50, `took ${took} ms`);
});

/** A real SQLite store that counts the queries the probes make of it. */
function countedStore(dir: string) {
  const store = SqliteStore.open(join(dir, "fabric.db"));
  const asked = { ping: 0, space: 0 };
  const ping = store.ping.bind(store);
  const space = store.space.bind(store);
  store.ping = () => (asked.ping++, ping());
  store.space = () => (asked.space++, space());
  return { store, asked };
}

Deno.test("a flood of probes and scrapes asks the store once, not once each; the body hides what the store said", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-probes-test-" });
  const { store, asked } = countedStore(dir);
  const logged: string[] = [];
  let failure: string | null = null;
  try {
    const probes = new Probes({
      store,
      metrics: new TrackerMetrics(),
      writeFailure: () => failure,
      log: (line) => logged.push(line),
    });
    const ready = await Promise.all(Array.from({ length: 200 }, () => probes.readiness()));
    assert.ok(ready.every((answer) => answer === null));
    const scrapes = await Promise.all(Array.from({ length: 200 }, () => probes.metrics()));
    assert.ok(scrapes.every((text) => text.includes("fabric_jobs_submitted_total")));
    assert.deepEqual(asked, { ping: 1, space: 1 });

    failure = "disk I/O error at /var/lib/fabric/fabric.db";
    assert.equal(await probes.readiness(), "the store's writes fail");
    assert.equal(await probes.readiness(), "the store's writes fail");
    assert.deepEqual(logged, ["not ready: the store's writes fail: disk I/O error at /var/lib/fabric/fabric.db"]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
