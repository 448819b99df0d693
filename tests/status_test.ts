/** `fabric status JOB` of a large job: counts and what needs attention, filters and pages. */
import assert from "node:assert/strict";
import type { JobDetail, JobTasksPage } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "status of a large job shows counts (skipped too) and the tasks that need attention; --state, --name and pages",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 8 }] });
  try {
    const jobId = await cluster.submit(`name: big
tasks:
  - name: shard
    count: 60
    run: '[ "$FABRIC_TASK_INDEX" -ge 3 ] || exit 1'
  - name: after
    needs: [shard]
    run: echo never
`);
    await waitFor("the job to end", async () => (await cluster.json<JobDetail>(["status", jobId])).state === "failed", {
      timeoutMs: 60_000,
    });
    const view = await cluster.cli(["status", jobId]);
    assert.equal(view.code, 0, view.stderr);
    // Before: 61 rows, and the skipped task missing from the counts.
    assert.match(view.stdout, /Tasks: 61 \(57 succeeded, 3 failed, 1 skipped, 0 cancelled, 0 running, 0 queued\)/);
    assert.match(view.stdout, /Failed: 3\n/);
    assert.ok(view.stdout.split("\n").length < 20, view.stdout);
    assert.match(view.stdout, new RegExp(`fabric status ${jobId} --all`));

    const failed = await cluster.cli(["status", jobId, "--state", "failed"]);
    assert.deepEqual(rows(failed.stdout).map((r) => r[1]), ["shard[0]", "shard[1]", "shard[2]"]);
    const named = await cluster.cli(["status", jobId, "--name", "shard[5*]"]);
    assert.deepEqual(rows(named.stdout).map((r) => r[1]), [
      "shard[5]",
      ...Array.from({ length: 10 }, (_, i) => `shard[5${i}]`),
    ]);
    const page = await cluster.cli(["status", jobId, "--limit", "5", "--offset", "5"]);
    assert.deepEqual(rows(page.stdout).map((r) => r[1]), ["shard[5]", "shard[6]", "shard[7]", "shard[8]", "shard[9]"]);
    assert.match(page.stdout, /10 of 61: --offset 10 for more/);
    const json = await cluster.json<JobTasksPage>(["status", jobId, "--state", "skipped"]);
    assert.equal(json.matched, 1);
    assert.deepEqual(json.tasks.map((t) => t.name), ["after"]);
    const all = await cluster.cli(["status", jobId, "--all"]);
    assert.equal(rows(all.stdout).length, 61);
    const wrong = await cluster.cli(["status", jobId, "--state", "nope"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--state takes one of/);
  } finally {
    await cluster.stop();
  }
});

/** The table's rows (after its header line), split on runs of spaces. */
function rows(text: string): string[][] {
  const lines = text.split("\n");
  const header = lines.findIndex((l) => l.startsWith("TASK "));
  const out: string[][] = [];
  for (const line of lines.slice(header + 1)) {
    if (!line.trim() || !/^\w+\.\d+ /.test(line)) break;
    out.push(line.trim().split(/\s+/));
  }
  return out;
}
