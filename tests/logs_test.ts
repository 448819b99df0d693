/** `fabric logs`: following a task across retries and a tracker restart, and a whole job's output at once. */
import assert from "node:assert/strict";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

function follow(cluster: Cluster, taskId: string, extra: string[] = []): Daemon {
  return new Daemon(`logs -f ${taskId}`, ["logs", taskId, "-f", ...extra], cluster.clientEnv);
}

Deno.test({
  name: "logs -f follows a task across its retries and a tracker restart, and exits with the task's outcome",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  const followers: Daemon[] = [];
  try {
    // Each first attempt waits for the test's go-ahead, given once its follower has printed it.
    const gate = await Deno.makeTempDir({ dir: cluster.root, prefix: "gate-" });
    await Deno.chmod(gate, 0o777);
    const wait = `i=0; while [ ! -e ${gate}/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
    const jobId = await cluster.submit(`name: flaky
permissions: {read: ["${gate}"]}
tasks:
  - name: flaky
    retries: 2
    backoff: 1s
    run: |
      echo "attempt $FABRIC_ATTEMPT"
      ${wait}
      [ "$FABRIC_ATTEMPT" -ge 2 ] || exit 3
      sleep 3
      echo "done on attempt $FABRIC_ATTEMPT"
  - name: hopeless
    retries: 1
    backoff: 1s
    run: |
      echo "try $FABRIC_ATTEMPT"
      ${wait}
      exit 4
`);
    const flaky = follow(cluster, `${jobId}.0`);
    const hopeless = follow(cluster, `${jobId}.1`);
    followers.push(flaky, hopeless);
    await flaky.waitForOutput(/attempt 1\n/);
    await hopeless.waitForOutput(/try 1\n/);
    await Deno.writeTextFile(`${gate}/go`, "");
    // The tracker restarts while attempt 2 runs: the follower resumes after the last line it printed.
    await waitFor("attempt 2's first line", () => flaky.stdout.includes("attempt 2\n"));
    cluster.tracker.kill("SIGKILL");
    await cluster.tracker.exited;
    await cluster.startTracker();
    const flakyEnd = await flaky.exited;
    // Before: it printed attempt 1's output and exited 0 while the task was still to be retried.
    assert.equal(flakyEnd.code, 0, flaky.describe());
    // (On a loaded machine the restart may cost attempt 2 its agent: a third attempt then finishes.)
    assert.match(flaky.stdout, /^attempt 1\nattempt 2\n(attempt 3\n)?done on attempt [23]\n$/);
    assert.match(flaky.stderr, /attempt 1 ended failed, exit code 3; following attempt 2/);
    const hopelessEnd = await hopeless.exited;
    assert.equal(hopelessEnd.code, 1, hopeless.describe());
    assert.match(hopeless.stdout, /^try 1\ntry 2\n(try 3\n)?$/);
    const job = await cluster.json<JobDetail>(["status", jobId]);
    assert.deepEqual(job.tasks.map((t) => t.state), ["succeeded", "failed"]);
  } finally {
    for (const f of followers) f.kill("SIGKILL");
    await Promise.all(followers.map((f) => f.exited));
    await cluster.stop();
  }
});

Deno.test({
  name: "logs JOB prints every task's output in one request, each line named, narrowed by --task and --state",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const jobId = await cluster.submit(`name: many
tasks:
  - name: shard
    count: 3
    run: |
      echo "shard $FABRIC_TASK_INDEX"
      printf "no newline"
  - name: broken
    run: echo "it broke" >&2 && exit 1
`);
    await waitFor("the job to end", async () => (await cluster.json<JobDetail>(["status", jobId])).state === "failed");
    const all = await cluster.cli(["logs", jobId]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(
      all.stdout,
      [0, 1, 2].map((i) => `[shard[${i}]] shard ${i}\n[shard[${i}]] no newline\n`).join(""),
    );
    assert.equal(all.stderr, "[broken] it broke\n");
    const failed = await cluster.cli(["logs", jobId, "--state", "failed"]);
    assert.equal(failed.stdout + failed.stderr, "[broken] it broke\n");
    const one = await cluster.cli(["logs", jobId, "--task", "shard[1]"]);
    assert.equal(one.stdout, "[shard[1]] shard 1\n[shard[1]] no newline\n");
    const json = await cluster.cli(["logs", jobId, "--task", "shard*", "--json"]);
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual([...new Set(lines.map((l) => l.task))], ["shard[0]", "shard[1]", "shard[2]"]);
    const wrong = await cluster.cli(["logs", jobId, "--state", "weird"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--state takes one of/);
    const missing = await cluster.cli(["logs", "nosuchjob1"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No job "nosuchjob1"/);
  } finally {
    await cluster.stop();
  }
});
