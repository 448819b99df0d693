/** Nothing lost: silent agents, crashed agents and trackers, drains. Real processes, loopback only. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, processesUnder, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const jobOf = (cluster: Cluster, jobId: string) => cluster.json<JobDetail>(["status", jobId]);
const taskOf = (cluster: Cluster, taskId: string) => cluster.json<TaskDetail>(["status", taskId]);

Deno.test({
  name: "lostAfter: an agent silent past its TTL but back within lostAfter keeps its task",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }], agentTtl: "1s" });
  try {
    const jobId = await cluster.submit(`name: patient
tasks:
  - name: long
    lostAfter: 30s
    agents: [a1]
    run: |
      sleep 3
      echo "finished on $FABRIC_AGENT, attempt $FABRIC_ATTEMPT"
`);
    await waitFor("the task to run", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    const a1 = cluster.agents.get("a1")!;
    Deno.kill(a1.pid, "SIGSTOP"); // silent, but its task keeps running
    try {
      const lost = await waitFor("the task to be lost, not replaced", async () => {
        const task = (await jobOf(cluster, jobId)).tasks[0];
        return task.state === "lost" ? task : undefined;
      });
      assert.match(lost.reason!, /agent a1 is unreachable; the task runs elsewhere after .* unless the agent is back/);
      assert.equal(lost.attempt, 1);
      const agents = await cluster.json<AgentView[]>(["agents"]);
      assert.equal(agents.find((a) => a.name === "a1")!.state, "down");
    } finally {
      Deno.kill(a1.pid, "SIGCONT");
    }
    const done = await cluster.waitForJob(jobId);
    assert.equal(done.state, "succeeded");
    assert.equal(done.tasks[0].attempt, 1, "the same attempt finished: nothing ran twice");
    assert.equal((await cluster.cli(["logs", done.tasks[0].id])).stdout, "finished on a1, attempt 1\n");
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "an agent silent longer than lostAfter is replaced, and its stale copy is stopped when it returns",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }], agentTtl: "1s" });
  try {
    const jobId = await cluster.submit(`name: replaced
tasks:
  - name: long
    lostAfter: 1500ms
    exclude: [a2]
    run: |
      echo "attempt $FABRIC_ATTEMPT on $FABRIC_AGENT"
      sleep 8
`);
    await waitFor("the task to run on a1", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    const a1 = cluster.agents.get("a1")!;
    Deno.kill(a1.pid, "SIGSTOP");
    await waitFor("the task to be queued again", async () => (await jobOf(cluster, jobId)).tasks[0].attempt === 2);
    Deno.kill(a1.pid, "SIGCONT");
    // a1 is back: the new attempt runs there, and the old copy of attempt 1 must be stopped.
    const task = await waitFor("attempt 2 to run", async () => {
      const task = (await jobOf(cluster, jobId)).tasks[0];
      return task.state === "running" && task.attempt === 2 ? task : undefined;
    }, { timeoutMs: 30_000 });
    assert.equal(task.agent, "a1");
    await waitFor("only one copy to run", async () => {
      const sleeps = await processesUnder(cluster.agentDir("a1"));
      const attempts = new Set<string>();
      for (const pid of sleeps) {
        try {
          const cwd = await Deno.readLink(`/proc/${pid}/cwd`);
          attempts.add(cwd.match(/work\/[^/]+-(\d+)/)?.[1] ?? "?");
        } catch { /* gone */ }
      }
      return attempts.size === 1 && attempts.has("2");
    }, { timeoutMs: 15_000 });
    const detail = await taskOf(cluster, task.id);
    assert.deepEqual(detail.attempts.map((a) => [a.attempt, a.state]), [[1, "lost"], [2, "running"]]);
    assert.equal(await cluster.cli(["cancel", jobId]).then((r) => r.code), 0);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "a result finished while the tracker was down survives the agent's crash too, and nothing runs twice",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const jobId = await cluster.submit(`name: journaled
tasks:
  - name: quick
    run: |
      sleep 1
      for i in $(seq 1 50); do echo "line $i"; done
      echo '{"ok": true}' > "$FABRIC_OUTPUT"
`);
    await waitFor("the task to run", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    cluster.tracker.kill("SIGKILL");
    await cluster.tracker.exited;
    const a1 = cluster.agents.get("a1")!;
    // The task ends while the tracker is away: its result is in the agent's journal, not delivered.
    await waitFor("the result to be journaled", async () => {
      for await (const file of Deno.readDir(join(cluster.agentDir("a1"), "journal"))) {
        const text = await Deno.readTextFile(join(cluster.agentDir("a1"), "journal", file.name)).catch(() => "");
        if (text.includes('"type":"finished"')) return true;
      }
      return false;
    }, { timeoutMs: 15_000 });
    a1.kill("SIGKILL");
    await a1.exited;

    const again = new Daemon("agent a1 again", ["agent", "--data-dir", cluster.agentDir("a1")]);
    cluster.agents.set("a1", again);
    await again.waitForOutput(/waiting for the tracker/);
    await cluster.startTracker();
    await again.waitForOutput(/delivering \d+ report\(s\) left from the last run/);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded", cluster.describe());
    assert.equal(job.tasks[0].attempt, 1, cluster.describe());
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    assert.equal(logs.stdout, Array.from({ length: 50 }, (_, i) => `line ${i + 1}\n`).join(""));
    assert.deepEqual((await taskOf(cluster, job.tasks[0].id)).output, { ok: true });
  } finally {
    await cluster.stop();
  }
});

Deno.test("an agent killed mid-task ends what it left running and reports it lost before taking work", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--allow-unsandboxed"] }] });
  try {
    const jobId = await cluster.submit(`name: orphan
tasks:
  - name: long
    sandbox: false
    run: |
      setsid sleep 300 &
      echo "attempt $FABRIC_ATTEMPT"
      sleep 3
`);
    await waitFor(
      "the task and its child to run",
      async () => (await jobOf(cluster, jobId)).tasks[0].state === "running",
    );
    const a1 = cluster.agents.get("a1")!;
    a1.kill("SIGKILL");
    await a1.exited;
    assert.ok(
      (await processesUnder(cluster.agentDir("a1"))).length > 0,
      "unsandboxed processes outlive a killed agent",
    );
    const again = new Daemon("agent a1 again", ["agent", "--data-dir", cluster.agentDir("a1"), "--allow-unsandboxed"]);
    cluster.agents.set("a1", again);
    await again.waitForOutput(/ended task \S+ attempt 1, left running by the last run/);
    const job = await cluster.waitForJob(jobId, { timeoutMs: 30_000 });
    const detail = await taskOf(cluster, job.tasks[0].id);
    assert.deepEqual(detail.attempts.map((a) => [a.attempt, a.state]), [[1, "lost"], [2, "succeeded"]]);
    assert.match(detail.attempts[0].reason!, /restarted and no longer runs it|restarted without it/);
    assert.deepEqual(await processesUnder(cluster.agentDir("a1")), []);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "with the tracker away and the journal full, output is dropped with a marker and the result kept",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--journal-limit", "64k"] }] });
  try {
    const jobId = await cluster.submit(`name: flood
tasks:
  - name: chatty
    run: |
      sleep 1
      for i in $(seq 1 20000); do echo "line $i of the flood"; done
      echo "the end" >&2
`);
    await waitFor("the task to run", async () => (await jobOf(cluster, jobId)).tasks[0].state === "running");
    cluster.tracker.kill("SIGKILL");
    await cluster.tracker.exited;
    const a1 = cluster.agents.get("a1")!;
    await a1.waitForOutput(/task output is dropped until the tracker takes reports again; results are kept/, 20_000);
    await cluster.startTracker();
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded");
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    // What came while the journal was full (the rest of the flood, and "the end") is one marker.
    assert.match(logs.stderr, /\[fabric: \d+ characters of output were dropped: the agent's journal was full/);
    assert.match(logs.stdout, /^line 1 of the flood\n/);
    assert.ok(logs.stdout.length < 20000 * 20, "the flood was cut");
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "with the tracker there, a task writing faster than it stores is held back, not cut at the journal's limit",
  ignore: lacks("bwrap"),
}, async () => {
  // A journal of 256 KB holds a few hundred milliseconds of this task's output: without pacing, most
  // of the 20 MB would be dropped while every report was being taken.
  const cluster = await Cluster.start({ agents: [{ name: "a1", extraArgs: ["--journal-limit", "256k"] }] });
  try {
    const jobId = await cluster.submit(`name: firehose
tasks:
  - name: fast
    run: |
      head -c 20000000 /dev/zero | tr '\\0' 'y' | fold -w 100
      echo "the end" >&2
`);
    const job = await cluster.waitForJob(jobId, { timeoutMs: 60_000 });
    assert.equal(job.state, "succeeded");
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    assert.equal(logs.stderr, "the end\n");
    assert.equal(logs.stdout.length, 20_000_000 + 199_999);
    assert.equal((logs.stdout + "\n").replaceAll("y".repeat(100) + "\n", ""), "", "every line is whole");
    const a1 = cluster.agents.get("a1")!;
    assert.doesNotMatch(a1.stdout + a1.stderr, /task output is dropped/);
  } finally {
    await cluster.stop();
  }
});
