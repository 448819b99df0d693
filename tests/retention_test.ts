/**
 * Retention on a real tracker: an ended job past --retention goes with its tasks and logs when
 * `fabric gc` runs, a running, a recent and a kept one stay; the store stays bounded while jobs come
 * and go; and --max-job-logs drops a job's output past the cap while its task goes on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";

interface Gc {
  jobs: number;
  tasks: number;
  logs: number;
  more: boolean;
  retentionMs: number;
  space: { bytes: number; freeBytes: number } | null;
}

const AGENT = { name: "r1", extraArgs: ["--allow-unsandboxed"] };

function job(name: string, run: string, options: { retention?: string; count?: number } = {}): string {
  return `name: ${name}\nsandbox: false\n` + (options.retention ? `retention: ${options.retention}\n` : "") +
    `tasks:\n  - name: t\n    count: ${options.count ?? 1}\n    run: ${JSON.stringify(run)}\n`;
}

/** The tracker's database, opened beside the running tracker (as another process would). */
function database<T>(cluster: Cluster, body: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(cluster.trackerDir, "fabric.db"));
  try {
    return body(db);
  } finally {
    db.close();
  }
}

function rowsOf(cluster: Cluster, table: "logs" | "attempts" | "purging", column: string, value: string): number {
  const sql = `SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`;
  return database(cluster, (db) => Number((db.prepare(sql).get(value) as { n: number }).n));
}

/**
 * Time passes for these ended jobs only: they ended `ms` earlier than they did (no test waits a
 * retention out, and jobs that just ended stay recent whatever the machine's load).
 */
function endedEarlier(cluster: Cluster, jobIds: string[], ms: number): void {
  database(cluster, (db) => {
    const update = db.prepare("UPDATE jobs SET finished_at = finished_at - ? WHERE id = ? AND finished_at IS NOT NULL");
    for (const id of jobIds) assert.equal(Number(update.run(ms, id).changes), 1, id);
  });
}

const HOUR = 3_600_000;

Deno.test("fabric gc deletes an ended job past the retention with its logs; running, recent and kept jobs stay", async () => {
  const cluster = await Cluster.start({ agents: [AGENT], trackerArgs: ["--retention", "1h"] });
  try {
    const old = await cluster.submit(job("old", "echo old output"), "old.yaml");
    const kept = await cluster.submit(job("kept", "echo kept", { retention: "1d" }), "kept.yaml");
    const recent = await cluster.submit(job("recent", "echo recent"), "recent.yaml");
    const running = await cluster.submit(job("running", "sleep 60"), "running.yaml");
    const oldJob = await cluster.waitForJob(old);
    await cluster.waitForJob(kept);
    await cluster.waitForJob(recent);
    await cluster.waitForJob(running, { until: (j) => j.counts.running === 1 });
    const oldTask = oldJob.tasks[0].id;
    assert.equal(rowsOf(cluster, "logs", "task_id", oldTask), 1);
    endedEarlier(cluster, [old, kept], 2 * HOUR);

    const gc = await cluster.json<Gc>(["gc"]);
    // The tracker's own pass (each minute) may have run since the job "ended earlier": then it is
    // the one that deleted it, and says so in its log. Together they deleted exactly this job.
    const byTracker = gc.jobs === 0
      ? (await cluster.tracker.waitForOutput(
        /retention: deleted (\d+) job\(s\).*?, (\d+) task\(s\), (\d+) log chunk/,
        5_000,
      ))
        .slice(1).map(Number)
      : [0, 0, 0];
    assert.deepEqual(
      [gc.jobs + byTracker[0], gc.tasks + byTracker[1], gc.logs + byTracker[2]],
      [1, 1, 1],
      JSON.stringify(gc),
    );
    assert.equal(gc.more, false);
    assert.equal(gc.retentionMs, HOUR);

    const status = await cluster.cli(["status", old]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /No job/);
    const logs = await cluster.cli(["logs", oldTask]);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /No task/);
    assert.equal(rowsOf(cluster, "logs", "task_id", oldTask), 0);
    assert.equal(rowsOf(cluster, "attempts", "task_id", oldTask), 0);
    assert.equal(rowsOf(cluster, "purging", "job_id", old), 0);

    const listed = await cluster.json<Array<{ id: string }>>(["status"]);
    assert.deepEqual(listed.map((j) => j.id).sort(), [kept, recent, running].sort());
    const human = await cluster.cli(["gc"]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Deleted 0 job\(s\) that ended over 1h00m ago: 0 task\(s\)/);
    assert.match(human.stdout, /The store holds \S+, \S+ of it free for new jobs\./);
  } finally {
    await cluster.stop();
  }
});

Deno.test("the tracker's store stays bounded while jobs with output come and go", async () => {
  const cluster = await Cluster.start({ agents: [AGENT], trackerArgs: ["--retention", "1h"] });
  try {
    // About 1.2 MB of output a cycle: 12 tasks of 100 KB.
    const chatty = job("chatty", "head -c 100000 /dev/zero | tr '\\0' x", { count: 12 });
    const sizes: number[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      const id = await cluster.submit(chatty, `chatty${cycle}.yaml`);
      const ended = await cluster.waitForJob(id);
      assert.equal(ended.state, "succeeded");
      endedEarlier(cluster, [id], 2 * HOUR);
      // (The tracker's own pass, each minute, may be the one that deletes it: either way it goes.)
      const gc = await cluster.json<Gc>(["gc"]);
      sizes.push(gc.space!.bytes);
    }
    const [first, ...later] = sizes;
    assert.ok(first > 1_000_000, `sizes ${sizes.join(", ")}`);
    for (const size of later) assert.ok(size <= first * 1.15, `sizes ${sizes.join(", ")}: the store grew`);
    assert.deepEqual(await cluster.json<unknown[]>(["status"]), []);
  } finally {
    await cluster.stop();
  }
});

Deno.test("past --max-job-logs a task's output is dropped, the task goes on, and its log says where", async () => {
  const cluster = await Cluster.start({ agents: [AGENT], trackerArgs: ["--max-job-logs", "8K"] });
  try {
    // 2 KB lines, one every 50 ms: each its own chunk; the fifth does not fit.
    const run = "for i in $(seq 1 12); do printf '%2000s\\n' | tr ' ' x; sleep 0.05; done; echo the end";
    const id = await cluster.submit(job("loud", run));
    const done: JobDetail = await cluster.waitForJob(id);
    assert.equal(done.state, "succeeded");
    const logs = await cluster.cli(["logs", done.tasks[0].id]);
    assert.equal(logs.code, 0, logs.stderr);
    const output = logs.stdout + logs.stderr;
    assert.match(output, /^x{2000}$/m);
    assert.match(output, /\[fabric: output dropped from here on: job \S+ has stored .* its --max-job-logs of 8K/);
    assert.doesNotMatch(output, /the end/);
    const stored = database(cluster, (db) => {
      const sql = "SELECT coalesce(sum(octet_length(data)), 0) AS n FROM logs WHERE task_id = ?";
      return Number((db.prepare(sql).get(done.tasks[0].id) as { n: number }).n);
    });
    assert.ok(stored <= 8192 + 300, `${stored} bytes stored`);
  } finally {
    await cluster.stop();
  }
});
