/**
 * The tracker's core against jobs at its limits, with a real tracker process: a needs chain thousands
 * long, the documented task count, and a job in its store that it cannot load.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { JobDetail, JobSummary } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";

/** A job file of `length` tasks, each needing the one before. */
function chainYaml(length: number): string {
  const lines = ["name: chain", "tasks:"];
  for (let i = 0; i < length; i++) {
    lines.push(`  - name: t${i}`, `    run: "true"`);
    if (i > 0) lines.push(`    needs: [t${i - 1}]`);
  }
  return lines.join("\n") + "\n";
}

async function restartTracker(cluster: Cluster): Promise<void> {
  await cluster.tracker.stop("SIGTERM", 10_000);
  await cluster.startTracker();
}

Deno.test("a job whose needs chain is 5,000 long can be cancelled, and the tracker starts again after it", async () => {
  const cluster = await Cluster.start();
  try {
    const jobId = await cluster.submit(chainYaml(5000));
    const cancel = await cluster.cli(["cancel", jobId, "--json"]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.deepEqual(JSON.parse(cancel.stdout).cancelled, 1);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "cancelled");
    assert.deepEqual([job.counts.cancelled, job.counts.skipped], [1, 4999]);
    await restartTracker(cluster);
    assert.equal((await cluster.json<JobDetail>(["status", jobId])).state, "cancelled");
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${cluster.describe()}`);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a job of 200,000 tasks is accepted (the documented limit is 1,000,000)", async () => {
  const cluster = await Cluster.start();
  try {
    const jobId = await cluster.submit('name: wide\ntasks:\n  - name: t\n    run: "true"\n    count: 200000\n');
    const [summary] = await cluster.json<JobSummary[]>(["status"]);
    assert.deepEqual([summary.id, summary.state, summary.total, summary.counts.queued], [
      jobId,
      "queued",
      200_000,
      200_000,
    ]);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${cluster.describe()}`);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a tracker that finds a job it cannot load sets it aside, failed with the reason, and starts", async () => {
  const cluster = await Cluster.start();
  try {
    const job = 'name: j\ntasks:\n  - name: a\n    run: "true"\n    count: 2\n';
    const broken = await cluster.submit(job, "broken.yaml");
    const unreadable = await cluster.submit(job, "unreadable.yaml");
    const fine = await cluster.submit(job, "fine.yaml");
    await cluster.tracker.stop("SIGTERM", 10_000);
    // As another version of fabric, or a hand's edit, might leave them.
    const db = new DatabaseSync(join(cluster.trackerDir, "fabric.db"));
    db.prepare("UPDATE tasks SET template = 'gone' WHERE id = ?").run(`${broken}.1`);
    db.prepare("UPDATE jobs SET counts = '{' WHERE id = ?").run(unreadable);
    db.close();
    await cluster.startTracker();
    const failed = await cluster.json<JobDetail>(["status", broken]);
    assert.equal(failed.state, "failed");
    assert.deepEqual(failed.tasks.map((t) => t.state), ["failed", "failed"]);
    assert.match(failed.tasks[0].reason!, /set aside when the tracker started: it could not be loaded: .*"gone"/);
    const unread = await cluster.json<JobDetail>(["status", unreadable]);
    assert.equal(unread.state, "failed");
    assert.match(unread.tasks[0].reason!, /set aside when the tracker started: its stored rows are not valid/);
    assert.equal((await cluster.json<JobDetail>(["status", fine])).state, "queued");
    await cluster.tracker.waitForOutput(new RegExp(`job ${broken} set aside`));
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${cluster.describe()}`);
  } finally {
    await cluster.stop();
  }
});
