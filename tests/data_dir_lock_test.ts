/** One tracker and one agent per data directory: a second stops at once naming the first; a kill -9 frees it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { fabric, waitFor } from "../testing/process.ts";

const LOCKED = 5;

Deno.test("a second tracker on a data directory in use stops at once naming the holder; after a kill -9 it starts", async () => {
  const cluster = await Cluster.start();
  try {
    const started = Date.now();
    const second = await fabric(["tracker", "--listen", "127.0.0.1:0", "--data-dir", cluster.trackerDir], {
      timeoutMs: 20_000,
    });
    assert.equal(second.code, LOCKED, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`data directory "${cluster.trackerDir}" is in use by tracker pid ${cluster.tracker.pid}\\b`),
    );
    assert.doesNotMatch(second.stderr, /\n\s+at /, "no stack trace");
    assert.ok(Date.now() - started < 10_000, "it stops at once");
    assert.equal((await cluster.cli(["status"])).code, 0, "the first one still answers");

    await cluster.tracker.stop("SIGKILL");
    await cluster.startTracker();
    assert.equal((await cluster.cli(["status"])).code, 0, "a restart on the same directory works");
  } finally {
    await cluster.stop();
  }
});

Deno.test("a second agent on a data directory in use stops at once and leaves the first one's task running", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--allow-unsandboxed"] }] });
  try {
    const jobId = await cluster.submit(`name: long
sandbox: false
tasks:
  - {name: t, run: "sleep 4; echo survived"}
`);
    const jobOf = () => cluster.json<JobDetail>(["status", jobId]);
    await waitFor("the task to run", async () => (await jobOf()).tasks[0].state === "running", { timeoutMs: 60_000 });
    const a1 = cluster.agents.get("a1")!;
    const second = await fabric([
      "agent",
      "--join",
      `127.0.0.1:${cluster.port}`,
      "--token-file",
      join(cluster.trackerDir, "join.token"),
      "--ca-hash",
      cluster.caHash,
      "--name",
      "a1",
      "--data-dir",
      cluster.agentDir("a1"),
    ], { timeoutMs: 20_000 });
    assert.equal(second.code, LOCKED, second.stderr);
    assert.match(second.stderr, new RegExp(`is in use by agent pid ${a1.pid}\\b`));
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded", "the first agent's task was not killed as a leftover");
    assert.equal((await cluster.cli(["logs", job.tasks[0].id])).stdout, "survived\n");

    await a1.stop("SIGKILL");
    const restarted = cluster.startAgent({ name: "a1", extraArgs: ["--allow-unsandboxed"] });
    await restarted.waitForOutput(/agent a1 joined/);
  } finally {
    await cluster.stop();
  }
});
