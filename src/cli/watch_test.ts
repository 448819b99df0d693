/** Following a job through a tracker's absence, with the time driven by the test. */
import assert from "node:assert/strict";
import { emptyCounts, FabricError, type JobSummary } from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { TrackerUnreachableError } from "../client/mod.ts";
import { watchUntilDone } from "./watch.ts";

function summary(version: number, state: JobSummary["state"] = "running"): JobSummary {
  return {
    id: "j1",
    name: "j",
    state,
    cancelling: false,
    counts: emptyCounts(),
    total: 1,
    createdAt: "2025-01-01T00:00:00.000Z",
    finishedAt: null,
    version,
    signedBy: null,
    submittedBy: null,
    periodic: null,
  };
}

/** The tracker's side of the long poll: answers (or failures) in turn, and when and after what it was asked. */
function trackerAnswering(clock: FakeClock, answers: Array<JobSummary | Error>) {
  const asked: Array<{ at: number; since: number }> = [];
  const start = clock.now();
  return {
    asked,
    watchJob(_jobId: string, since: number): Promise<JobSummary> {
      asked.push({ at: clock.now() - start, since });
      const answer = answers.shift();
      if (answer === undefined) return Promise.reject(new Error("asked once too often"));
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

const away = () => new TrackerUnreachableError("Cannot reach the tracker at https://127.0.0.1:1: refused");

Deno.test("each change is passed on once, from the version given, until the job ends", async () => {
  const clock = new FakeClock();
  const tracker = trackerAnswering(clock, [summary(4), summary(4), summary(7), summary(9, "succeeded")]);
  const seen: number[] = [];
  const final = await watchUntilDone(tracker, "j1", { onChange: (job) => seen.push(job.version), since: 3, clock });
  assert.equal(final.job?.state, "succeeded");
  assert.equal(final.ended, true);
  assert.deepEqual(seen, [4, 7, 9], "an answer without a change (the poll's time ran out) is not passed on");
  assert.deepEqual(tracker.asked.map((a) => a.since), [3, 4, 4, 7]);
});

Deno.test("a tracker restart is ridden out: said once, retried at jittered waits up to 2 s, then said back", async () => {
  const clock = new FakeClock();
  const tracker = trackerAnswering(clock, [
    summary(1),
    away(),
    away(),
    away(),
    away(),
    away(),
    away(),
    summary(2, "failed"),
  ]);
  const outages: Array<string | null> = [];
  const watching = watchUntilDone(tracker, "j1", {
    onChange: () => {},
    onOutage: (message) => outages.push(message),
    clock,
    random: () => 0.5,
  });
  await clock.tick(10_000);
  assert.equal((await watching).job?.state, "failed");
  // random() = 0.5: half of a bound that doubles from 250 ms up to 2 s.
  assert.deepEqual(tracker.asked.map((a) => a.at), [0, 0, 125, 375, 875, 1875, 2875, 3875]);
  assert.deepEqual(outages, ["Cannot reach the tracker at https://127.0.0.1:1: refused", null]);
});

Deno.test("an outage of two minutes ends the watch with its error; other errors end it at once", async () => {
  const clock = new FakeClock();
  const tracker = trackerAnswering(clock, Array.from({ length: 200 }, away));
  const watching = watchUntilDone(tracker, "j1", { onChange: () => {}, clock, random: () => 0.99 });
  watching.catch(() => {});
  await clock.tick(119_000);
  assert.equal(tracker.asked.length < 200, true);
  const tries = tracker.asked.length;
  await clock.tick(3000);
  await assert.rejects(watching, TrackerUnreachableError);
  const last = tracker.asked.at(-1)!.at;
  assert.ok(last >= 120_000 && last < 122_000, `gave up at ${last}`);
  assert.ok(tracker.asked.length > tries);

  const gone = trackerAnswering(clock, [new FabricError("not_found", 'No job "j1"')]);
  await assert.rejects(watchUntilDone(gone, "j1", { onChange: () => {}, clock }), /No job "j1"/);
  assert.equal(gone.asked.length, 1);
});
