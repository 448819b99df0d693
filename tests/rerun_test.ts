/** `fabric rerun`: a job's file again, whole or only what did not succeed (with the outputs carried over). */
import assert from "node:assert/strict";
import type { JobDetail, RerunJobResponse } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "rerun --failed runs only what did not succeed, with the succeeded tasks' outputs; rerun runs it all",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 4 }] });
  try {
    // A shard fails until a file the test writes exists: the rerun finds it.
    const gate = await Deno.makeTempDir({ dir: cluster.root, prefix: "gate-" });
    await Deno.chmod(gate, 0o777);
    const jobId = await cluster.submit(`name: flaky
permissions: {read: ["${gate}"]}
tasks:
  - name: shard
    count: 3
    run: |
      [ "$FABRIC_TASK_INDEX" != 1 ] || [ -e ${gate}/fixed ] || exit 1
      echo "{\\"shard\\": $FABRIC_TASK_INDEX}" > "$FABRIC_OUTPUT"
  - name: sum
    needs: [shard]
    run: cat "$FABRIC_NEEDS_SHARD"
`);
    const first = await cluster.waitForJob(jobId);
    assert.equal(first.state, "failed");
    assert.deepEqual(first.tasks.map((t) => t.state), ["succeeded", "failed", "succeeded", "skipped"]);
    const early = await cluster.cli(["rerun", jobId, "--failed", "--wait"]);
    assert.equal(early.code, 1, "still failing");
    assert.match(early.stderr, /2 carried over as succeeded/);

    await Deno.writeTextFile(`${gate}/fixed`, "");
    const rerun = await cluster.cli(["rerun", jobId, "--failed", "--wait"]);
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    const id = rerun.stderr.match(/submitted job (\w+)/)![1];
    const job = await cluster.json<JobDetail>(["status", id]);
    assert.deepEqual(job.tasks.map((t) => [t.name, t.state, t.attempt]), [
      ["shard[0]", "succeeded", 0],
      ["shard[1]", "succeeded", 1],
      ["shard[2]", "succeeded", 0],
      ["sum", "succeeded", 1],
    ]);
    assert.match(job.tasks[0].reason ?? "", new RegExp(`succeeded in job ${jobId}`));
    // The task that needs them read every shard's output, the carried-over ones too.
    const sum = await cluster.cli(["logs", `${id}.3`]);
    const shards = JSON.parse(sum.stdout).map((s: { output: { shard: number } }) => s.output.shard);
    assert.deepEqual(shards, [0, 1, 2]);

    const again = await cluster.json<RerunJobResponse>(["rerun", id, "--failed", "--json"]).catch((e) => e);
    assert.ok(again instanceof Error && /no failed, lost, skipped or cancelled task/.test(again.message));
    const whole = await cluster.json<RerunJobResponse>(["rerun", id, "--json"]);
    assert.equal(whole.carried, 0);
    assert.equal(whole.rerunOf, id);
    const all = await cluster.waitForJob(whole.jobId);
    assert.deepEqual(all.tasks.map((t) => [t.state, t.attempt]), [
      ["succeeded", 1],
      ["succeeded", 1],
      ["succeeded", 1],
      ["succeeded", 1],
    ]);
    const missing = await cluster.cli(["rerun", "nosuchjob1"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No job "nosuchjob1"/);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "rerun --failed refuses a job that has not ended, and a submit token reruns only its own jobs",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const jobId = await cluster.submit("name: long\ntasks:\n  - {name: t, run: sleep 30}\n");
    await waitFor("it to run", async () => (await cluster.json<JobDetail>(["status", jobId])).state === "running");
    const early = await cluster.cli(["rerun", jobId, "--failed"]);
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /has not ended: rerun --failed takes an ended job/);
    const token = await cluster.cli(["token", "create", "--role", "submit", "--name", "ci"]);
    assert.equal(token.code, 0, token.stderr);
    const asCi = await cluster.cli(["rerun", jobId], { env: { FABRIC_TOKEN: token.stdout.trim() } });
    assert.equal(asCi.code, 6, asCi.stderr);
    assert.match(asCi.stderr, /needs the operator role/);
    await cluster.cli(["cancel", jobId]);
  } finally {
    await cluster.stop();
  }
});
