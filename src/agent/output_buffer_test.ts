/** How a task's raw output becomes numbered chunks, with the time driven by the test. */
import assert from "node:assert/strict";
import type { LogChunkData } from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { OutputBuffer } from "./output_buffer.ts";

function setup(accept: () => boolean = () => true) {
  const clock = new FakeClock();
  const emitted: Array<{ chunks: LogChunkData[]; force: boolean; kept: boolean }> = [];
  const buffer = new OutputBuffer({
    emit: (chunks, force) => {
      const kept = force || accept();
      emitted.push({ chunks: structuredClone(chunks), force, kept });
      return kept;
    },
  }, clock);
  const bytes = (text: string) => new TextEncoder().encode(text);
  return { clock, buffer, emitted, bytes };
}

Deno.test("output gathers for 20 ms, a chunk per run of one stream, numbered from 0 without gaps", async () => {
  const { clock, buffer, emitted, bytes } = setup();
  buffer.push("stdout", bytes("a"));
  await clock.tick(5);
  buffer.push("stdout", bytes("b\n"));
  buffer.push("stderr", bytes("warn\n"));
  buffer.push("stdout", bytes("c\n"));
  await clock.tick(14);
  assert.equal(emitted.length, 0, "not before 20 ms");
  await clock.tick(1);
  assert.deepEqual(emitted.map((e) => e.chunks), [[
    { seq: 0, stream: "stdout", data: "ab\n" },
    { seq: 1, stream: "stderr", data: "warn\n" },
    { seq: 2, stream: "stdout", data: "c\n" },
  ]]);
  buffer.push("stdout", bytes("d\n"));
  buffer.close();
  assert.deepEqual(emitted[1].chunks, [{ seq: 3, stream: "stdout", data: "d\n" }], "close flushes at once");
  assert.equal(clock.timers, 0);
});

Deno.test("fast output costs one timer per 20 ms, not one per read, and 256K characters go at once", async () => {
  const { clock, buffer, emitted, bytes } = setup();
  for (let i = 0; i < 1000; i++) buffer.push("stdout", bytes("0123456789\n"));
  assert.equal(clock.timers, 1);
  assert.equal(emitted.length, 0);
  const big = "b".repeat(256 * 1024);
  buffer.push("stdout", bytes(big));
  assert.equal(emitted.length, 1, "a full buffer does not wait");
  assert.equal(emitted[0].chunks[0].data.length, 11_000 + big.length);
  assert.equal(clock.timers, 0, "the flush cleared its timer");
  await clock.tick(20);
  assert.equal(emitted.length, 1);
});

Deno.test("a character split across reads stays whole, and a cut one at the very end is still flushed", async () => {
  const { clock, buffer, emitted } = setup();
  const euro = new TextEncoder().encode("€"); // three bytes
  buffer.push("stdout", euro.subarray(0, 2));
  await clock.tick(20);
  assert.equal(emitted.length, 0, "half a character is held");
  buffer.push("stdout", euro.subarray(2));
  buffer.push("stdout", euro.subarray(0, 1));
  buffer.close();
  assert.deepEqual(emitted.map((e) => e.chunks.map((c) => c.data)), [["€\uFFFD"]]);
});

Deno.test("output the sink cannot keep is counted; one marker says how much, first in the next chunks and at the end", async () => {
  let room = false;
  const { clock, buffer, emitted, bytes } = setup(() => room);
  buffer.push("stdout", bytes("12345"));
  await clock.tick(20);
  buffer.push("stderr", bytes("678"));
  await clock.tick(20);
  assert.deepEqual(emitted.map((e) => e.kept), [false, false]);
  room = true;
  buffer.push("stdout", bytes("kept\n"));
  await clock.tick(20);
  const kept = emitted.at(-1)!.chunks;
  assert.equal(kept.length, 2);
  assert.deepEqual(kept.map((c) => c.seq), [0, 1], "the dropped output used no numbers");
  assert.match(kept[0].data, /^\[fabric: 8 characters of output were dropped: /);
  assert.equal(kept[0].stream, "stderr");
  assert.equal(kept[1].data, "kept\n");

  // Dropped at the end: the marker is forced out on close, as the output's last word.
  room = false;
  buffer.push("stdout", bytes("gone"));
  buffer.close();
  const last = emitted.at(-1)!;
  assert.equal(last.force, true);
  assert.deepEqual(last.chunks.map((c) => c.seq), [2]);
  assert.match(last.chunks[0].data, /^\[fabric: 4 characters of output were dropped: /);
});
