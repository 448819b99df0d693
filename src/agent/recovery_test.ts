import assert from "node:assert/strict";
import type { TaskEvent } from "../protocol/mod.ts";
import { lostAttempts } from "./recovery.ts";

Deno.test("after a restart, every attempt of the last run without a final report is reported lost", () => {
  const backlog: TaskEvent[] = [
    // Killed after reporting started, before its process existed: only the journal knows it.
    { type: "started", taskId: "j.1", attempt: 1, at: 1 },
    // Finished, not yet delivered: delivered, not lost.
    { type: "started", taskId: "j.2", attempt: 1, at: 1 },
    { type: "finished", taskId: "j.2", attempt: 1, at: 2, result: { kind: "exited", code: 0 }, durationMs: 1 },
    { type: "output", taskId: "j.3", attempt: 2, at: 1, chunks: [{ seq: 0, stream: "stdout", data: "x" }] },
  ];
  const lost = lostAttempts([{ taskId: "j.4", attempt: 1 }, { taskId: "j.3", attempt: 2 }], backlog, 9);
  assert.deepEqual(lost.map((e) => [e.taskId, e.attempt, e.type, e.type === "released" && e.how]), [
    ["j.4", 1, "released", "lost"],
    ["j.3", 2, "released", "lost"],
    ["j.1", 1, "released", "lost"],
  ]);
});
