import assert from "node:assert/strict";
import { healthAnswer, notReadyBecause, READY_TIMEOUT_MS } from "./health.ts";

Deno.test("ready when the store answers and its writes succeed; otherwise not, saying why", async () => {
  const answers = () => Promise.resolve();
  assert.equal(await notReadyBecause({ ping: answers, writeProblem: () => null }), null);
  assert.equal(
    await notReadyBecause({ ping: answers, writeProblem: () => "database or disk is full" }),
    "the store's writes fail: database or disk is full",
  );
  assert.equal(
    await notReadyBecause({ ping: () => Promise.reject(new Error("disk I/O error")), writeProblem: () => null }),
    "the store does not answer: disk I/O error",
  );
  assert.deepEqual(healthAnswer(null), { status: 200, body: "ok\n" });
  assert.deepEqual(healthAnswer("why"), { status: 503, body: "not ready: why\n" });
});

Deno.test("a store that does not answer within a second is not ready, and the check does not wait longer", async () => {
  let release = () => {};
  const hung = new Promise<void>((resolve) => (release = resolve));
  const started = performance.now();
  const why = await notReadyBecause({ ping: () => hung, writeProblem: () => null });
  const took = performance.now() - started;
  release();
  assert.equal(why, `the store does not answer: no answer within ${READY_TIMEOUT_MS} ms`);
  assert.ok(took >= READY_TIMEOUT_MS - 50 && took < READY_TIMEOUT_MS + 1000, `took ${took} ms`);
});
