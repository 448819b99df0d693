import assert from "node:assert/strict";
import type { TaskEvent } from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { Journal } from "./journal.ts";

const started = (taskId: string): TaskEvent => ({ type: "started", taskId, attempt: 1, at: 1 });

Deno.test("what was not acknowledged comes back after a restart, in order, and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-journal-" });
  try {
    let { journal, pending } = await Journal.open(dir);
    assert.deepEqual(pending, []);
    journal.append([started("a"), started("b"), started("c")]);
    await journal.sync();
    journal.ack(1);
    journal.close(); // a crash: nothing more is written

    ({ journal, pending } = await Journal.open(dir));
    assert.deepEqual(pending.map((e) => e.taskId), ["b", "c"]);
    journal.append([started("d")]);
    journal.ack(2); // b and c, from the previous run's segment
    journal.close();

    ({ journal, pending } = await Journal.open(dir));
    assert.deepEqual(pending.map((e) => e.taskId), ["d"]);
    journal.ack(1);
    assert.equal(journal.bytes, 0);
    journal.close();
    ({ journal, pending } = await Journal.open(dir));
    assert.deepEqual(pending, []);
    journal.close();
    const files = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.startsWith("seg-"));
    assert.ok(files.length <= 1, `acknowledged segments are deleted, left: ${files}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a line cut short by a crash is skipped, the rest is kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-journal-" });
  try {
    const { journal } = await Journal.open(dir);
    journal.append([started("a"), started("b")]);
    journal.close();
    const [segment] = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.startsWith("seg-"));
    await Deno.writeTextFile(`${dir}/${segment}`, '{"type":"started","taskId":"c","att', { append: true });
    const reopened = await Journal.open(dir);
    assert.deepEqual(reopened.pending.map((e) => e.taskId), ["a", "b"]);
    reopened.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the acknowledged position is written at most every 200 ms, and at once when a segment goes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-journal-" });
  const acked = () => Deno.readTextFile(`${dir}/acked.json`).then(JSON.parse, () => null);
  const segments = async () =>
    (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.startsWith("seg-")).sort();
  try {
    const clock = new FakeClock();
    const { journal } = await Journal.open(dir, clock);
    journal.append([started("a"), started("b")]);
    journal.ack(1);
    journal.ack(0);
    assert.equal(await acked(), null, "not at every acknowledgement");
    await clock.tick(199);
    assert.equal(await acked(), null);
    await clock.tick(1);
    assert.deepEqual(await acked(), { segment: 1, lines: 1 });

    // 8 MB segments: d does not fit beside c and starts the next; acknowledging b and c deletes the first
    // segment, and where the acknowledged part ends is recorded at once.
    const large = (taskId: string): TaskEvent => ({
      type: "output",
      taskId,
      attempt: 1,
      at: 1,
      chunks: [{ seq: 0, stream: "stdout", data: "L".repeat(5 * 1024 * 1024) }],
    });
    journal.append([large("c"), large("d")]);
    assert.deepEqual(await segments(), ["seg-00000001.ndjson", "seg-00000002.ndjson"]);
    journal.ack(2);
    assert.deepEqual(await segments(), ["seg-00000002.ndjson"]);
    assert.deepEqual(await acked(), { segment: 2, lines: 0 });
    assert.equal(clock.timers, 0);
    journal.close(); // a crash would leave the same files

    const reopened = await Journal.open(dir);
    reopened.journal.close();
    assert.deepEqual(reopened.pending.map((e) => e.taskId), ["d"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("output of any size and any characters comes back as it was written, its bytes counted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-journal-" });
  try {
    const output = (data: string): TaskEvent => ({
      type: "output",
      taskId: "t",
      attempt: 1,
      at: 1,
      chunks: [{ seq: 0, stream: "stdout", data }],
    });
    // ASCII, text beyond it, lines past the first scratch buffer (64 KB) and past twice its size.
    const events = [
      output("x\n"),
      output("é日本😀\n"),
      output("y".repeat(70_000)),
      output("é".repeat(40_000)),
      output("z".repeat(300_000)),
      output("a\ud800b"),
    ];
    let { journal } = await Journal.open(dir);
    journal.append(events);
    const bytes = events.reduce((n, e) => n + new TextEncoder().encode(JSON.stringify(e) + "\n").length, 0);
    assert.equal(journal.bytes, bytes);
    journal.close();
    let pending: TaskEvent[];
    ({ journal, pending } = await Journal.open(dir));
    assert.deepEqual(pending, events);
    assert.equal(journal.bytes, bytes, "the same bytes counted after a restart");
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
