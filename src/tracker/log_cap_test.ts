import assert from "node:assert/strict";
import type { LogChunkData } from "../protocol/mod.ts";
import type { JobEntry, TaskEntry } from "./entries.ts";
import { byteLength, keptOutput } from "./log_cap.ts";
import { TrackerMetrics } from "./metrics/mod.ts";

/** Two tasks of one job, as the tracker holds them (only what the cap reads). */
function twoTasks(): [TaskEntry, TaskEntry] {
  const job = { record: { id: "j1" }, logBytes: 0, logsCut: null } as unknown as JobEntry;
  return [{ job } as TaskEntry, { job } as TaskEntry];
}

const chunk = (seq: number, data: string): LogChunkData => ({ seq, stream: "stdout", data });

Deno.test("a job's output is kept up to its cap; then a marker takes the first dropped chunk's place and the rest goes", () => {
  const metrics = new TrackerMetrics();
  const cap = { maxJobBytes: 10, metrics };
  const [a, b] = twoTasks();
  const first = [chunk(0, "1234"), chunk(1, "5678")];
  assert.equal(keptOutput(a, 1, first, cap), first); // within the cap: the same array, nothing copied
  const kept = keptOutput(a, 1, [chunk(2, "ab"), chunk(3, "cd"), chunk(4, "e")], cap);
  assert.deepEqual(kept.map((c) => c.seq), [2, 3]);
  assert.equal(kept[0].data, "ab");
  assert.equal(kept[1].stream, "stderr");
  assert.match(
    kept[1].data,
    /^\[fabric: output dropped from here on: job j1 has stored 10B of output, its --max-job-logs of 10B on this tracker; the task goes on\]\n$/,
  );
  // The same attempt says it once; another task of the job, or the task's next attempt, once each.
  assert.deepEqual(keptOutput(a, 1, [chunk(5, "x")], cap), []);
  assert.deepEqual(keptOutput(b, 1, [chunk(0, "y")], cap).map((c) => c.stream), ["stderr"]);
  assert.deepEqual(keptOutput(a, 2, [chunk(0, "z")], cap).map((c) => c.stream), ["stderr"]);
  assert.equal(metrics.logBytesDropped.value, "cd".length + "e".length + "x".length + "y".length + "z".length);
  assert.equal(metrics.logBytes.value, a.job.logBytes);
});

Deno.test("output is counted in UTF-8 bytes, short and long alike", () => {
  assert.equal(byteLength("héllo €"), 10);
  const long = "é".repeat(1000) + "x";
  assert.equal(byteLength(long), 2001);
  assert.equal(byteLength("\u{1F600}"), 4);
});
