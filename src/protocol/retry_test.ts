import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";
import { retry, RetryBackoff } from "./retry.ts";

/** A `random` that returns the given values in turn. */
function randoms(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

Deno.test("a backoff's waits are drawn below a bound that doubles up to its cap, and a success starts it over", () => {
  const top = new RetryBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.9999);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => top.next()), [99, 199, 399, 799, 999, 999]);
  assert.equal(top.failures, 6);
  top.reset();
  assert.equal(top.failures, 0);
  assert.equal(top.next(), 99);

  const half = new RetryBackoff({ initialMs: 100, maxMs: 1000, multiplier: 3 }, () => 0.5);
  assert.deepEqual([1, 2, 3, 4].map(() => half.next()), [50, 150, 450, 500]);
});

Deno.test("full jitter: agents that fail together draw their waits from the whole bound, not one instant", () => {
  // Agents cut off by the same restart, each with its own draw (a fixed sequence stands for Math.random).
  const draws = randoms(0.03, 0.97, 0.41, 0.66, 0.18, 0.85, 0.5, 0.09);
  const waits = Array.from({ length: 8 }, () => {
    const backoff = new RetryBackoff({ initialMs: 2000, maxMs: 2000 }, draws);
    return backoff.next();
  });
  assert.deepEqual(waits, [60, 1940, 820, 1320, 360, 1700, 1000, 180]);
  assert.equal(new Set(waits).size, waits.length);
});

Deno.test("a backoff refuses a policy that cannot back off", () => {
  assert.throws(() => new RetryBackoff({ initialMs: 0, maxMs: 10 }), RangeError);
  assert.throws(() => new RetryBackoff({ initialMs: 10, maxMs: 5 }), RangeError);
  assert.throws(() => new RetryBackoff({ initialMs: 10, maxMs: 50, multiplier: 0.5 }), RangeError);
  assert.throws(() => new RetryBackoff({ initialMs: NaN, maxMs: 50 }), /initialMs <= maxMs/);
});

Deno.test("retry tries again after each failure, waiting each drawn wait on the clock", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  const tried: number[] = [];
  const retried: Array<[number, number]> = [];
  const result = retry(
    () => {
      tried.push(clock.now() - start);
      return tried.length < 4 ? Promise.reject(new Error(`down ${tried.length}`)) : Promise.resolve("up");
    },
    {
      policy: { initialMs: 100, maxMs: 300 },
      clock,
      random: () => 0.5,
      onRetry: (error, failures, waitMs) => {
        assert.equal((error as Error).message, `down ${failures}`);
        retried.push([failures, waitMs]);
      },
    },
  );
  await clock.tick(0);
  assert.deepEqual(tried, [0]);
  await clock.tick(49);
  assert.deepEqual(tried, [0], "not before its wait");
  await clock.tick(1);
  assert.deepEqual(tried, [0, 50]);
  await clock.tick(1000);
  assert.equal(await result, "up");
  assert.deepEqual(tried, [0, 50, 150, 300]);
  assert.deepEqual(retried, [[1, 50], [2, 100], [3, 150]]);
  assert.equal(clock.timers, 0);
});

Deno.test("retry throws a failure that is not retryable at once, without waiting", async () => {
  const clock = new FakeClock();
  let tries = 0;
  await assert.rejects(
    retry(() => (tries++, Promise.reject(new TypeError("refused"))), {
      policy: { initialMs: 100, maxMs: 100 },
      clock,
      retryable: (error) => !(error instanceof TypeError),
    }),
    TypeError,
  );
  assert.equal(tries, 1);
  assert.equal(clock.timers, 0);
});

Deno.test("retry stops at once when its signal aborts mid-wait, with the last failure", async () => {
  const clock = new FakeClock();
  const abort = new AbortController();
  let tries = 0;
  const result = retry(() => Promise.reject(new Error(`down ${++tries}`)), {
    policy: { initialMs: 10_000, maxMs: 10_000 },
    clock,
    random: () => 0.9,
    signal: abort.signal,
  });
  await clock.tick(100);
  abort.abort();
  await assert.rejects(result, /down 1/);
  assert.equal(tries, 1);
  assert.equal(clock.timers, 0, "the wait's timer is cleared");
});

Deno.test("retry gives up once failures have gone on for giveUpAfterMs", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  const tried: number[] = [];
  const result = retry(() => (tried.push(clock.now() - start), Promise.reject(new Error("down"))), {
    policy: { initialMs: 400, maxMs: 400 },
    clock,
    random: () => 0.5,
    giveUpAfterMs: 1000,
  });
  result.catch(() => {});
  await clock.tick(5000);
  await assert.rejects(result, /down/);
  assert.deepEqual(tried, [0, 200, 400, 600, 800, 1000]);
});
