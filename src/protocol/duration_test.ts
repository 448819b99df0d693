import assert from "node:assert/strict";
import { DurationTooLongError, formatDuration, parseDuration } from "./duration.ts";

Deno.test("durations parse from units, combinations and bare seconds", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration(12), 12_000);
  assert.equal(parseDuration("12"), 12_000);
});

Deno.test("a malformed duration is a RangeError that quotes it", () => {
  assert.throws(() => parseDuration("5x"), { name: "RangeError", message: /"5x"/ });
  assert.throws(() => parseDuration("m5"), RangeError);
  assert.throws(() => parseDuration(-1), RangeError);
});

Deno.test("durations format short", () => {
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(1234), "1.23s");
  assert.equal(formatDuration(245_000), "4m05s");
  assert.equal(formatDuration(7_800_000), "2h10m");
});

Deno.test("a duration over 7 days is refused (a timer of more than 2^31-1 ms fires at once)", () => {
  assert.equal(parseDuration("7d"), 7 * 86_400_000);
  assert.equal(parseDuration(7 * 86_400), 7 * 86_400_000);
  assert.throws(() => parseDuration("30d"), { name: "DurationTooLongError", message: /at most 7d, got "30d"/ });
  assert.throws(() => parseDuration("7d1ms"), DurationTooLongError);
  assert.throws(() => parseDuration(2_592_000), DurationTooLongError);
  assert.throws(() => parseDuration("9".repeat(60)), DurationTooLongError);
  assert.throws(() => parseDuration(`${"1".repeat(100)}s`), RangeError);
});
