import assert from "node:assert/strict";
import type { TaskEvent } from "../protocol/mod.ts";
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
