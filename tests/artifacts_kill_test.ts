/**
 * kill -9 mid-upload of a large artifact (40 MB, ten chunks): of the agent, then of the tracker. The
 * agent's test hook (FABRIC_TEST_UPLOAD_GATE) holds the upload after its first chunk is stored, so the
 * kill lands mid-upload for certain. A half upload is never listed or downloadable; the retried attempt
 * (after the agent's death) or the same one (after the tracker's restart) completes it, and what the
 * task reports done is there byte for byte.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FabricClient } from "../src/client/mod.ts";
import type { ArtifactRef, JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const BYTES = 40_000_000;
/** What `yes fabric | head -c BYTES` writes. */
const BIG = new TextEncoder().encode("fabric\n".repeat(Math.ceil(BYTES / 7)).slice(0, BYTES));
const SHA = createHash("sha256").update(BIG).digest("hex");
const JOB = `name: big
tasks:
  - name: make
    run: "{ yes fabric || true; } | head -c ${BYTES} > big.bin"
    artifacts: [big.bin]
`;

function clientOf(cluster: Cluster): Promise<FabricClient> {
  return Deno.readTextFile(join(cluster.trackerDir, "ca.pem")).then((caPem) =>
    new FabricClient({ url: cluster.url, token: cluster.adminToken, caPem, timeoutMs: 10_000 })
  );
}

/** Nothing of the half upload shows: no complete blob, no artifact of the task. */
async function assertNothingHalf(cluster: Cluster, taskId: string): Promise<void> {
  const client = await clientOf(cluster);
  try {
    assert.equal(await client.blobInfo(SHA), null, "a half upload is not a blob");
    await assert.rejects(client.readBlobChunk(SHA, 0), /No chunk 0/);
    assert.deepEqual((await client.getTask(taskId)).artifacts, []);
  } finally {
    client.close();
  }
}

/** The job succeeded with the whole artifact, and `fabric artifacts get` returns its bytes. */
async function assertWhole(cluster: Cluster, job: JobDetail): Promise<void> {
  assert.equal(job.state, "succeeded", JSON.stringify(job.tasks));
  const taskId = job.tasks[0].id;
  const listed = await cluster.json<Array<ArtifactRef & { task: string }>>(["artifacts", taskId]);
  assert.deepEqual(listed, [{ task: taskId, path: "big.bin", sha256: SHA, size: BYTES }]);
  const out = join(cluster.root, "out");
  const got = await cluster.cli(["artifacts", "get", taskId, "big.bin", "-o", out]);
  assert.equal(got.code, 0, got.stderr);
  const file = await Deno.readFile(join(out, "big.bin"));
  assert.equal(createHash("sha256").update(file).digest("hex"), SHA);
}

Deno.test({
  name: "an agent killed -9 mid-upload: the half upload is never listed or served; the retried attempt completes it",
  ignore: lacks("bwrap"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-gate-" });
  const gate = join(root, "open");
  const env = { FABRIC_TEST_UPLOAD_GATE: gate };
  const cluster = await Cluster.start({ agents: [{ name: "a1", env }] });
  try {
    const jobId = await cluster.submit(JOB);
    const a1 = cluster.agents.get("a1")!;
    await a1.waitForOutput(new RegExp(`upload of ${SHA} held after chunk 0`), 60_000);
    a1.kill("SIGKILL");
    await a1.exited;
    const taskId = (await cluster.json<JobDetail>(["status", jobId])).tasks[0].id;
    await assertNothingHalf(cluster, taskId);
    // Back with its data directory (its journal), the gate open: the task, lost with the agent, runs again.
    await Deno.writeTextFile(gate, "");
    const again = new Daemon("agent a1 again", ["agent", "--data-dir", cluster.agentDir("a1")], env);
    cluster.agents.set("a1", again);
    const job = await cluster.waitForJob(jobId, { timeoutMs: 90_000 });
    assert.ok(job.tasks[0].attempt >= 2, `a new attempt ran (attempt ${job.tasks[0].attempt})`);
    await assertWhole(cluster, job);
  } finally {
    await cluster.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "a tracker killed -9 mid-upload and started again: no half blob; the agent's upload goes on and completes",
  ignore: lacks("bwrap"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-gate-" });
  const gate = join(root, "open");
  const cluster = await Cluster.start({ agents: [{ name: "a1", env: { FABRIC_TEST_UPLOAD_GATE: gate } }] });
  try {
    const jobId = await cluster.submit(JOB);
    await cluster.agents.get("a1")!.waitForOutput(new RegExp(`upload of ${SHA} held after chunk 0`), 60_000);
    await cluster.tracker.stop("SIGKILL");
    await cluster.startTracker();
    const taskId = (await cluster.json<JobDetail>(["status", jobId])).tasks[0].id;
    await assertNothingHalf(cluster, taskId);
    await Deno.writeTextFile(gate, "");
    const job = await cluster.waitForJob(jobId, { timeoutMs: 90_000 });
    assert.equal(job.tasks[0].attempt, 1, "the same attempt went on");
    await assertWhole(cluster, job);
    // Nothing is left waiting on the gate.
    await waitFor("the agent to be ready", async () => {
      const agents = await cluster.json<Array<{ name: string; state: string }>>(["agents"]);
      return agents.some((a) => a.name === "a1" && a.state === "ready");
    });
  } finally {
    await cluster.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "a task cancelled mid-upload ends without waiting for the upload; nothing half is listed",
  ignore: lacks("bwrap"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-gate-" });
  // The gate never opens: only the cancel can end the held upload.
  const gate = join(root, "never");
  const cluster = await Cluster.start({ agents: [{ name: "a1", env: { FABRIC_TEST_UPLOAD_GATE: gate } }] });
  try {
    const jobId = await cluster.submit(JOB);
    await cluster.agents.get("a1")!.waitForOutput(new RegExp(`upload of ${SHA} held after chunk 0`), 60_000);
    const cancelled = await cluster.cli(["cancel", jobId]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const job = await cluster.waitForJob(jobId);
    // Its process had ended well before the cancel: the task keeps that outcome, without the artifact.
    assert.deepEqual([job.state, job.tasks[0].state], ["cancelled", "succeeded"]);
    const taskId = job.tasks[0].id;
    await assertNothingHalf(cluster, taskId);
    const log = await cluster.cli(["logs", taskId]);
    assert.match(log.stdout + log.stderr, /1 artifact\(s\) not kept: the task was stopped while they were uploaded/);
  } finally {
    await cluster.stop();
    await Deno.remove(root, { recursive: true });
  }
});
