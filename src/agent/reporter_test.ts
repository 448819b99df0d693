/** The agent's side of "nothing lost", with the time driven by the test: batching, folding, stale attempts, retries. */
import assert from "node:assert/strict";
import { Journal } from "./journal.ts";
import { BAD_TASK, finished, output, started, startReporter } from "./_reporter_testing.ts";

Deno.test("an idle agent's event goes out at once; a busy agent's gather for 10 ms and travel in one report", async () => {
  const { reporter, clock, tracker, busy, journal, close } = await startReporter();
  try {
    reporter.enqueue(output("a", clock.now()));
    await clock.tick(0);
    assert.deepEqual(tracker.sent(), [["output:a#1"]]);

    busy.value = true;
    reporter.enqueue(output("b", clock.now()));
    await clock.tick(4);
    reporter.enqueue(output("c", clock.now()));
    await clock.tick(5);
    assert.equal(tracker.batches.length, 1, "still gathering 9 ms after the first event");
    await clock.tick(1);
    assert.deepEqual(tracker.sent(), [["output:a#1"], ["output:b#1", "output:c#1"]]);
    assert.equal(reporter.size, 0);
    assert.equal(journal.bytes, 0, "acknowledged events leave the journal");
  } finally {
    await close();
  }
});

Deno.test("a started alone waits 200 ms and goes alone; a finished within them folds it away", async () => {
  const { reporter, clock, tracker, journal, close } = await startReporter();
  try {
    reporter.enqueue(started("a", clock.now()));
    await clock.tick(199);
    assert.equal(tracker.batches.length, 0, "a started is not urgent");
    await clock.tick(1);
    assert.deepEqual(tracker.sent(), [["started:a#1"]]);

    reporter.enqueue(started("b", clock.now()));
    await clock.tick(50);
    reporter.enqueue(finished("b", clock.now()));
    await clock.tick(0);
    assert.deepEqual(tracker.sent(), [["started:a#1"], ["finished:b#1"]], "one report for b, without its started");
    assert.equal(reporter.size, 0);
    assert.equal(journal.bytes, 0, "the folded started is acknowledged with its finished");
  } finally {
    await close();
  }
});

Deno.test("a started with output behind it goes with it, not after the 200 ms", async () => {
  const { reporter, clock, tracker, close } = await startReporter();
  try {
    reporter.enqueue(started("a", clock.now()));
    await clock.tick(20);
    reporter.enqueue(output("a", clock.now()));
    await clock.tick(0);
    assert.deepEqual(tracker.sent(), [["started:a#1", "output:a#1"]]);
  } finally {
    await close();
  }
});

Deno.test("events of an attempt the tracker calls stale are dropped, the rest go in order, all leave the journal", async () => {
  const { reporter, clock, tracker, staleSeen, journal, close } = await startReporter();
  try {
    tracker.mode = "hold";
    reporter.enqueue(output("a", clock.now(), "1\n", 0));
    await clock.tick(0);
    // While the first report is on its way, more of a's output and b's come in behind it.
    reporter.enqueue(output("a", clock.now(), "2\n", 1));
    reporter.enqueue(output("b", clock.now()));
    reporter.enqueue(finished("a", clock.now()));
    assert.deepEqual(
      reporter.pendingAttempts().map((r) => r.taskId),
      ["a", "b"],
    );
    tracker.stale = [{ taskId: "a", attempt: 1 }];
    tracker.answerHeld();
    await clock.tick(0);
    assert.deepEqual(staleSeen, [{ taskId: "a", attempt: 1 }]);
    assert.deepEqual(reporter.pendingAttempts(), [{ taskId: "b", attempt: 1 }], "a stale attempt is not held");
    tracker.answerHeld();
    await clock.tick(0);
    assert.deepEqual(tracker.sent(), [["output:a#1"], ["output:b#1"]]);
    assert.equal(reporter.size, 0);
    assert.equal(journal.bytes, 0, "skipped events are acknowledged in order with the rest");
  } finally {
    await close();
  }
});

Deno.test("while the tracker is away reports are kept and retried at jittered, growing waits, then go in order", async () => {
  const { reporter, clock, tracker, logs, journal, close } = await startReporter();
  try {
    const start = clock.now();
    tracker.mode = "away";
    reporter.enqueue(output("a", clock.now(), "1\n", 0));
    await clock.tick(100);
    reporter.enqueue(output("a", clock.now(), "2\n", 1));
    await clock.tick(0);
    assert.equal(tracker.batches.length, 2, "a new event does not cut a wait short");
    await clock.tick(1500);
    // random() = 0.5: half of a bound that doubles from 100 ms up to 2 s.
    assert.deepEqual(tracker.times.map((t) => t - start), [0, 50, 150, 350, 750, 1550]);
    assert.equal(logs.filter((l) => l.startsWith("cannot deliver reports")).length, 1, "said once");
    assert.ok(journal.bytes > 0, "kept in the journal");

    tracker.mode = "take";
    await clock.tick(1000);
    assert.deepEqual(tracker.sent().at(-1), ["output:a#1", "output:a#1"]);
    assert.deepEqual(tracker.batches.at(-1)!.map((e) => e.type === "output" && e.chunks[0].data), ["1\n", "2\n"]);
    assert.equal(journal.bytes, 0);
    assert.ok(logs.includes("the tracker takes reports again"));

    // Back to the shortest wait after a success.
    tracker.mode = "away";
    const again = clock.now();
    reporter.enqueue(output("b", clock.now()));
    await clock.tick(60);
    assert.deepEqual(tracker.times.filter((t) => t >= again).map((t) => t - again), [0, 50]);
  } finally {
    await close();
  }
});

Deno.test("a batch the tracker rejects as malformed is dropped, and what follows it still goes", async () => {
  const { reporter, clock, tracker, logs, journal, close } = await startReporter();
  try {
    tracker.mode = "reject";
    reporter.enqueue(output("a", clock.now()));
    await clock.tick(0);
    assert.match(logs.join("\n"), /dropping 1 event\(s\) the tracker rejects: events\[0\]: invalid/);
    tracker.mode = "take";
    reporter.enqueue(output("b", clock.now()));
    await clock.tick(0);
    assert.deepEqual(tracker.sent(), [["output:a#1"], ["output:b#1"]]);
    assert.equal(journal.bytes, 0);
  } finally {
    await close();
  }
});

Deno.test("one bad event in a report costs only itself: the others' results still go, and a bad result goes as a failure", async () => {
  const { reporter, clock, tracker, busy, logs, journal, close } = await startReporter();
  try {
    busy.value = true; // the events gather into one report
    reporter.enqueue(output("a", clock.now()));
    reporter.enqueue(output(BAD_TASK, clock.now()));
    reporter.enqueue(finished("a", clock.now()));
    reporter.enqueue(finished(BAD_TASK, clock.now()));
    reporter.enqueue(finished("c", clock.now()));
    for (let i = 0; i < 10; i++) await clock.tick(20);
    // Before: the whole report was dropped, "a" and "c" never ended on the tracker.
    assert.deepEqual(tracker.sent(), [
      ["output:a#1", "output:bad#1", "finished:a#1", "finished:bad#1", "finished:c#1"],
      ["output:a#1"],
      ["output:bad#1"],
      ["finished:a#1"],
      ["finished:bad#1"],
      ["finished:bad#1"],
      ["finished:c#1"],
    ]);
    const last = tracker.batches.at(-2)![0];
    assert.equal(last.type === "finished" && last.result.kind, "failed_to_start");
    assert.match(logs.join("\n"), /rejects a report of 5 events .*one at a time/);
    assert.match(logs.join("\n"), /dropping 1 event\(s\) the tracker rejects: events\[0\]: invalid/);
    assert.match(logs.join("\n"), /rejects the result of task bad attempt 1 .* reporting it as failed instead/);
    // Back to whole reports once past the refused one.
    reporter.enqueue(output("d", clock.now()));
    reporter.enqueue(output("e", clock.now()));
    for (let i = 0; i < 3; i++) await clock.tick(20);
    assert.deepEqual(tracker.sent().at(-1), ["output:d#1", "output:e#1"]);
    assert.equal(journal.bytes, 0);
  } finally {
    await close();
  }
});

Deno.test("stopping ends a wait between tries at once, and what was not delivered stays in the journal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-reporter-" });
  try {
    const setup = await startReporter({ dir });
    setup.tracker.mode = "away";
    setup.reporter.enqueue(finished("a", setup.clock.now()));
    await setup.clock.tick(0);
    assert.equal(await Promise.race([setup.reporter.drained(500), setup.clock.tick(500).then(() => "late")]), false);
    await setup.close(); // would hang on the retry's wait if stop did not end it
    assert.equal(setup.clock.timers, 0);

    const { journal, pending } = await Journal.open(dir);
    journal.close();
    assert.deepEqual(pending.map((e) => `${e.type}:${e.taskId}`), ["finished:a"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a previous run's backlog goes first, in order, and leaves the journal once taken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-reporter-" });
  try {
    const first = await Journal.open(dir);
    first.journal.append([output("a", 1, "1\n", 0), finished("a", 2)]);
    first.journal.close(); // the agent crashed here

    const { journal, pending } = await Journal.open(dir);
    journal.close();
    const setup = await startReporter({ dir, backlog: pending });
    try {
      setup.reporter.enqueue(output("b", setup.clock.now()));
      await setup.clock.tick(0);
      assert.deepEqual(setup.tracker.sent(), [["output:a#1", "finished:a#1"], ["output:b#1"]]);
      assert.equal(setup.journal.bytes, 0);
    } finally {
      await setup.close();
    }
    const after = await Journal.open(dir);
    after.journal.close();
    assert.deepEqual(after.pending, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
