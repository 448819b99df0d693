import assert from "node:assert/strict";
import type { LogRow } from "../store/mod.ts";
import { keepRecentLogs, RECENT_LOG_CHARS, recentLogsAfter, type TaskEntry } from "./entries.ts";

function row(attempt: number, seq: number, data = `line ${seq}\n`): LogRow {
  return { taskId: "j.0", attempt, seq, stream: "stdout", data, at: seq };
}

function followed(): TaskEntry {
  return { recentLogs: { attempt: 1, rows: [], chars: 0 } } as unknown as TaskEntry;
}

Deno.test("a followed task's committed output is read back from memory only where it is contiguous", () => {
  const task = followed();
  assert.equal(recentLogsAfter(task, 1, -1), null, "nothing kept yet: read the store");
  keepRecentLogs(task, [row(1, 5), row(1, 6), row(1, 7)]);
  assert.equal(recentLogsAfter(task, 1, 3), null, "seq 4 is not kept: read the store");
  assert.deepEqual(recentLogsAfter(task, 1, 4)!.map((r) => r.seq), [5, 6, 7]);
  assert.deepEqual(recentLogsAfter(task, 1, 6)!.map((r) => r.seq), [7]);
  assert.deepEqual(recentLogsAfter(task, 1, 7), [], "caught up");
  assert.equal(recentLogsAfter(task, 2, -1), null, "another attempt is not kept");
  // A gap (rows lost to a restart) or a new attempt starts the tail afresh.
  keepRecentLogs(task, [row(1, 9)]);
  assert.equal(recentLogsAfter(task, 1, 7), null);
  assert.deepEqual(recentLogsAfter(task, 1, 8)!.map((r) => r.seq), [9]);
  keepRecentLogs(task, [row(2, 0)]);
  assert.deepEqual(recentLogsAfter(task, 2, -1)!.map((r) => r.seq), [0]);
  assert.equal(recentLogsAfter(task, 1, 8), null);
});

Deno.test("the kept output is bounded: the oldest rows go, the newest always stays", () => {
  const task = followed();
  const big = "x".repeat(RECENT_LOG_CHARS / 4);
  keepRecentLogs(task, [0, 1, 2, 3, 4, 5].map((seq) => row(1, seq, big)));
  assert.ok(task.recentLogs!.chars <= RECENT_LOG_CHARS);
  assert.deepEqual(task.recentLogs!.rows.map((r) => r.seq), [2, 3, 4, 5]);
  assert.equal(recentLogsAfter(task, 1, 0), null, "dropped rows come from the store");
  keepRecentLogs(task, [row(1, 6, "x".repeat(RECENT_LOG_CHARS * 2))]);
  assert.deepEqual(task.recentLogs!.rows.map((r) => r.seq), [6], "one row over the bound is still kept");
  // A task nobody follows keeps nothing.
  const unfollowed = { recentLogs: null } as unknown as TaskEntry;
  keepRecentLogs(unfollowed, [row(1, 0)]);
  assert.equal(unfollowed.recentLogs, null);
});
