/** The reporter's bounds, with the time driven by the test: report size, the journal's limit, and the pacing of fast output. */
import assert from "node:assert/strict";
import type { LogChunkData, TaskEvent } from "../protocol/mod.ts";
import { OutputBuffer } from "./output_buffer.ts";
import { finished, output, startReporter } from "./_reporter_testing.ts";

Deno.test("a report holds at most 1000 events and 4 MB; the rest follow in order", async () => {
  const { reporter, clock, tracker, journal, close } = await startReporter();
  try {
    tracker.mode = "hold";
    for (let i = 0; i < 2500; i++) reporter.enqueue(output("a", clock.now(), "x\n", i));
    await clock.tick(0);
    for (let i = 0; i < 3; i++) {
      tracker.answerHeld();
      await clock.tick(0);
    }
    assert.deepEqual(tracker.batches.map((b) => b.length), [1000, 1000, 500]);
    const seqs = tracker.batches.flat().map((e) => e.type === "output" ? e.chunks[0].seq : -1);
    assert.deepEqual(seqs, Array.from({ length: 2500 }, (_, i) => i));

    const big = "y".repeat(1536 * 1024);
    for (let i = 0; i < 3; i++) reporter.enqueue(output("b", clock.now(), big, i));
    await clock.tick(0);
    for (let i = 0; i < 3; i++) {
      tracker.answerHeld();
      await clock.tick(0);
    }
    assert.deepEqual(tracker.batches.slice(3).map((b) => b.length), [2, 1], "two 1.5 MB events fit, three do not");
    assert.equal(journal.bytes, 0);
  } finally {
    await close();
  }
});

Deno.test("while the tracker is away the journal's limit refuses output, never a result, and says so once each way", async () => {
  const { reporter, clock, tracker, logs, journal, close } = await startReporter({ maxJournalBytes: 2000 });
  try {
    tracker.mode = "away";
    let taken = 0;
    while (reporter.enqueue(output("a", clock.now(), "z".repeat(100), taken))) {
      taken++;
      await clock.tick(0);
      assert.ok(taken < 100, "the limit is reached");
    }
    const eventBytes = journal.bytes / taken;
    assert.ok(journal.bytes >= 2000 && journal.bytes < 2000 + eventBytes, "output is kept up to the limit");
    assert.equal(reporter.enqueue(output("a", clock.now(), "lost", taken)), false);
    assert.equal(reporter.enqueue(finished("a", clock.now())), true, "a result is always kept");
    assert.equal(logs.filter((l) => l.includes("task output is dropped")).length, 1);

    tracker.mode = "take";
    await clock.tick(2000);
    assert.equal(reporter.size, 0);
    assert.equal(reporter.hasRoom(), true);
    assert.ok(logs.includes("the journal has room again: task output is kept again"));
    const delivered = tracker.batches.at(-1)!;
    assert.equal(delivered.length, taken + 1);
    assert.equal(delivered.at(-1)!.type, "finished");
  } finally {
    await close();
  }
});

Deno.test("output dropped at the journal's limit shows as one marker with its count, numbered without gaps", async () => {
  const { reporter, clock, tracker, close } = await startReporter({ maxJournalBytes: 1000 });
  try {
    const buffer = new OutputBuffer({
      emit: (chunks, force) =>
        reporter.enqueue({ type: "output", taskId: "a", attempt: 1, at: clock.now(), chunks }, force),
    }, clock);
    const write = async (text: string) => {
      buffer.push("stdout", new TextEncoder().encode(text));
      await clock.tick(20);
    };
    tracker.mode = "away";
    for (let i = 0; reporter.hasRoom(); i++) {
      await write(`line ${i} ${"k".repeat(90)}\n`);
      assert.ok(i < 100, "the limit is reached");
    }
    await write("dropped 1\n");
    await write("dropped 2\n");

    tracker.mode = "take";
    await clock.tick(2000);
    await write("after\n");
    buffer.close();
    await clock.tick(0);
    const chunks = tracker.batches.flat().filter((e) => e.type === "output").flatMap((e) =>
      (e as TaskEvent & { chunks: LogChunkData[] }).chunks
    );
    // Each delivered chunk once (a retried batch is sent again): by number.
    const bySeq = new Map(chunks.map((c) => [c.seq, c]));
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i), "no gaps");
    const text = seqs.map((s) => bySeq.get(s)!.data);
    const marker = text.findIndex((t) => t.startsWith("[fabric: "));
    assert.ok(marker > 0, text.join(""));
    assert.match(text[marker], /^\[fabric: 20 characters of output were dropped: /);
    assert.equal(text.filter((t) => t.startsWith("[fabric: ")).length, 1);
    assert.deepEqual(text.slice(marker + 1), ["after\n"]);
    assert.ok(!text.join("").includes("dropped 1"));
  } finally {
    await close();
  }
});

Deno.test("while the tracker takes reports, fast output is held back past the mark and let go at half of it", async () => {
  // A 4000-byte journal limit puts the mark at 2000 bytes undelivered.
  const { reporter, clock, tracker, journal, close } = await startReporter({ maxJournalBytes: 4000 });
  try {
    tracker.mode = "hold";
    const data = "p".repeat(450);
    reporter.enqueue(output("a", clock.now(), data, 0));
    await clock.tick(0);
    assert.equal(reporter.paceOutput(), null, "below the mark");
    for (let seq = 1; seq < 4; seq++) reporter.enqueue(output("a", clock.now(), data, seq));
    assert.ok(journal.bytes >= 2000, `${journal.bytes}`);
    let released = false;
    reporter.paceOutput()!.then(() => (released = true));

    tracker.answerHeld(); // the first event is delivered; three remain, more than half the mark
    await clock.tick(0);
    assert.ok(journal.bytes > 1000);
    assert.equal(released, false);
    assert.equal(tracker.holding, 1, "the other three are on their way");
    tracker.answerHeld();
    await clock.tick(0);
    assert.equal(journal.bytes, 0);
    assert.equal(released, true);

    // Output is held back, never dropped, while the tracker takes reports: past the journal's limit too.
    for (let seq = 4; seq < 13; seq++) assert.ok(reporter.enqueue(output("a", clock.now(), data, seq)));
    assert.ok(journal.bytes > 4000, `${journal.bytes}`);
    // When the tracker stops taking reports, output goes to the journal instead: nothing is held.

    let releasedToo = false;
    reporter.paceOutput()!.then(() => (releasedToo = true));
    tracker.mode = "away";
    tracker.answerHeld();
    await clock.tick(0);
    await clock.tick(100);
    assert.equal(releasedToo, true);
    assert.equal(reporter.paceOutput(), null);
  } finally {
    await close();
  }
});
