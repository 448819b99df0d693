import assert from "node:assert/strict";
import { nextTimes } from "../protocol/mod.ts";
import { type Decision, plan, type PlanInput } from "./periodic_plan.ts";

const at = (iso: string) => Date.parse(iso);
const isos = (times: number[]) => times.map((t) => new Date(t).toISOString());

function input(over: Partial<PlanInput> & { now: number }): PlanInput {
  return {
    schedule: { cron: "0 3 * * *", timezone: "UTC" },
    catchUpMs: 5 * 60_000,
    lastScheduledAt: null,
    since: at("2026-01-01T00:00:00Z"),
    ...over,
  };
}

/** Every decision a tracker checking at each of `checks` makes, applied as periodic.ts applies them. */
function launchesAt(base: Omit<PlanInput, "now">, checks: number[]): Decision[] {
  let last = base.lastScheduledAt;
  const decisions: Decision[] = [];
  for (const now of checks) {
    const decision = plan({ ...base, lastScheduledAt: last, now });
    if (decision.kind !== "wait") last = decision.at;
    decisions.push(decision);
  }
  return decisions;
}

Deno.test("a time that has come is launched once, and the next time is named", () => {
  const decision = plan(input({ now: at("2026-01-02T03:00:00.120Z") }));
  assert.deepEqual(decision, {
    kind: "launch",
    at: at("2026-01-02T03:00:00Z"),
    next: at("2026-01-03T03:00:00Z"),
  });
  const again = plan(input({ now: at("2026-01-02T03:00:01Z"), lastScheduledAt: at("2026-01-02T03:00:00Z") }));
  assert.deepEqual(again, { kind: "wait", next: at("2026-01-03T03:00:00Z") });
});

Deno.test("nothing is due before the first time after registration, nor for a time at or before it", () => {
  assert.equal(plan(input({ now: at("2026-01-01T02:59:59Z") })).kind, "wait");
  // Registered at 03:00:30: 03:00 was before it, and is not caught up.
  const since = at("2026-01-01T03:00:30Z");
  assert.deepEqual(plan(input({ since, now: at("2026-01-01T03:01:00Z") })), {
    kind: "wait",
    next: at("2026-01-02T03:00:00Z"),
  });
});

Deno.test("missed times: at most one catch-up run, the latest, only within catchUp", () => {
  const base = { ...input({ now: 0 }), schedule: { cron: "*/10 * * * *", timezone: "UTC" } };
  const last = at("2026-01-01T03:00:00Z");
  // Down from 03:00 to 03:34: 03:10, 03:20 and 03:30 were missed; 03:30 is 4 minutes old: run it alone.
  assert.deepEqual(plan({ ...base, lastScheduledAt: last, now: at("2026-01-01T03:34:00Z") }), {
    kind: "launch",
    at: at("2026-01-01T03:30:00Z"),
    next: at("2026-01-01T03:40:00Z"),
  });
  // Down until 03:36: 03:30 is 6 minutes old, past catchUp: passed over, nothing runs until 03:40.
  assert.deepEqual(plan({ ...base, lastScheduledAt: last, now: at("2026-01-01T03:36:00Z") }), {
    kind: "missed",
    at: at("2026-01-01T03:30:00Z"),
    next: at("2026-01-01T03:40:00Z"),
  });
  // catchUp 0: only a check at the very time launches.
  assert.equal(
    plan({ ...base, catchUpMs: 0, lastScheduledAt: last, now: at("2026-01-01T03:30:00.001Z") }).kind,
    "missed",
  );
  assert.equal(plan({ ...base, catchUpMs: 0, lastScheduledAt: last, now: at("2026-01-01T03:30:00Z") }).kind, "launch");
});

Deno.test("a six-field schedule counts seconds", () => {
  const base = { ...input({ now: 0 }), schedule: { cron: "*/2 * * * * *", timezone: "UTC" } };
  const start = at("2026-01-01T00:00:00.500Z");
  const checks = [0, 1000, 1500, 2000, 3700, 4100].map((ms) => start + ms);
  const launched = launchesAt(base, checks).filter((d) => d.kind === "launch").map((d) => (d as { at: number }).at);
  assert.deepEqual(isos(launched), ["2026-01-01T00:00:02.000Z", "2026-01-01T00:00:04.000Z"]);
});

// DST, America/New_York: 2026-03-08 02:00 EST jumps to 03:00 EDT; 2026-11-01 02:00 EDT falls back to 01:00 EST.
const NEW_YORK = "America/New_York";

Deno.test("DST spring forward: a fixed time in the gap runs once, at the first time after it; an interval skips the gap", () => {
  const fixed = { cron: "30 2 * * *", timezone: NEW_YORK };
  assert.deepEqual(isos(nextTimes(fixed, at("2026-03-07T00:00:00Z"), 3)), [
    "2026-03-07T07:30:00.000Z", // 02:30 EST
    "2026-03-08T07:00:00.000Z", // 02:30 does not exist on the 8th: 03:00 EDT, the first time after the gap
    "2026-03-09T06:30:00.000Z", // 02:30 EDT
  ]);
  const interval = { cron: "*/30 1-3 * * *", timezone: NEW_YORK };
  assert.deepEqual(isos(nextTimes(interval, at("2026-03-08T05:50:00Z"), 4)), [
    "2026-03-08T06:00:00.000Z", // 01:00 EST
    "2026-03-08T06:30:00.000Z", // 01:30 EST
    "2026-03-08T07:00:00.000Z", // 03:00 EDT: 02:00 and 02:30 do not exist
    "2026-03-08T07:30:00.000Z", // 03:30 EDT
  ]);
  // The planner, checking every minute through the night, launches the fixed time once.
  const launched = launchesAt(
    { ...input({ now: 0 }), schedule: fixed, since: at("2026-03-08T00:00:00Z") },
    minutes(at("2026-03-08T05:00:00Z"), at("2026-03-08T09:00:00Z")),
  ).filter((d) => d.kind === "launch");
  assert.deepEqual(isos(launched.map((d) => (d as { at: number }).at)), ["2026-03-08T07:00:00.000Z"]);
});

Deno.test("DST fall back: a fixed time in the repeated hour runs once, at its first pass; an interval runs on both", () => {
  const since = at("2026-11-01T00:00:00Z");
  const night = minutes(at("2026-11-01T04:00:00Z"), at("2026-11-01T08:00:00Z"));
  const launched = (cron: string) =>
    isos(
      launchesAt({ ...input({ now: 0 }), schedule: { cron, timezone: NEW_YORK }, since }, night)
        .filter((d) => d.kind === "launch").map((d) => (d as { at: number }).at),
    );
  // 01:30 EDT (05:30Z); 01:30 EST (06:30Z) is the same time again: not run.
  assert.deepEqual(launched("30 1 * * *"), ["2026-11-01T05:30:00.000Z"]);
  // 01:00 and 01:30, each on both passes through the hour.
  assert.deepEqual(launched("*/30 1 * * *"), [
    "2026-11-01T05:00:00.000Z",
    "2026-11-01T05:30:00.000Z",
    "2026-11-01T06:00:00.000Z",
    "2026-11-01T06:30:00.000Z",
  ]);
});

Deno.test("a time zone shifts the times: 03:00 in Paris is 02:00 UTC in winter", () => {
  const decision = plan(input({
    schedule: { cron: "0 3 * * *", timezone: "Europe/Paris" },
    now: at("2026-01-02T02:00:10Z"),
  }));
  assert.deepEqual(decision, { kind: "launch", at: at("2026-01-02T02:00:00Z"), next: at("2026-01-03T02:00:00Z") });
});

/** Each minute from `from` up to `to`. */
function minutes(from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += 60_000) out.push(t);
  return out;
}
